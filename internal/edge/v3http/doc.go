// Package v3http is the edge for the APIv3 JSON APIs (/v3/*). It authenticates each
// call (WECHATPAY2-SHA256-RSA2048 over the raw request, the timestamp window, a nonce
// replay guard), signs every answer with the platform identity the merchant trusts
// (the one its Wechatpay-Serial names, else its default mode), answers errors as
// {"code","message"} with the documented HTTP statuses through one table, and offers
// handlers the RSA-OAEP helpers for sensitive fields.
package v3http
