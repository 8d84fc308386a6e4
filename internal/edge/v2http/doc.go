// Package v2http is the edge for the v2 XML APIs (/pay/*, /secapi/*, /face/*). It
// decodes and authenticates each request once (XML, sign_type, merchant, signature,
// client certificate on /secapi, appid bindings), hands the domain a plain Message, and
// turns domain errors into the protocol's own answers through one table. Every answer
// is HTTP 200 with return_code/return_msg XML, as v2 clients require.
package v2http
