package v3wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
)

func TestErrorBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       ErrorBody
		wantJSON   string
		wantDetail bool
	}{
		{"without detail", ErrorBody{Code: CodeSignError, Message: "签名错误"}, `{"code":"SIGN_ERROR","message":"签名错误"}`, false},
		{
			"with detail",
			ErrorBody{Code: CodeParamError, Message: "bad amount", Detail: map[string]any{"field": "/amount/total", "value": 0, "issue": "must be positive", "location": "body"}},
			`{"code":"PARAM_ERROR","message":"bad amount","detail":{"field":"/amount/total","issue":"must be positive","location":"body","value":0}}`,
			true,
		},
		{"empty message still present", ErrorBody{Code: CodeSystemError}, `{"code":"SYSTEM_ERROR","message":""}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, err := json.Marshal(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != tt.wantJSON {
				t.Fatalf("json = %s, want %s", raw, tt.wantJSON)
			}
			// What a wechatpay-go caller gets for a 4xx.
			err = core.CheckResponse(&http.Response{StatusCode: 400, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(raw))})
			var apiErr *core.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("CheckResponse = %v", err)
			}
			if apiErr.Code != tt.body.Code || apiErr.Message != tt.body.Message || (apiErr.Detail != nil) != tt.wantDetail {
				t.Fatalf("APIError = %+v", apiErr)
			}
		})
	}
}
