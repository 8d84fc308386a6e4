// Package bill renders the trade bills of the WeChat Pay v2 downloadbill API
// (spec/v2-downloadbill.md) and decides which FAIL answer a bill request gets.
//
// It is pure: the payment domain hands it the day's rows and the edge writes the
// bytes it returns, so the byte-exact format that client parsers depend on lives in
// one tested place. Money arrives as int64 fen; the bill prints yuan.
package bill
