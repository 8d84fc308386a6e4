package v2http

import (
	"errors"
	"net/http"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/pay/bill"
	"github.com/openfacepay/openfacepay/internal/tenant"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

// BillAPI serves downloadbill: bill text (or gzip) on success, and the unsigned
// FAIL XML of the bill API otherwise, which clients recognise by its leading <xml>.
func BillAPI(svc *pay.Service, tenants *tenant.Service, c clock.Clock) API {
	return API{
		Path: "/pay/downloadbill", Required: []string{"bill_date"},
		Refusal: billRefusal,
		Raw: func(w http.ResponseWriter, r *Request) {
			ctx := r.Request.Context()
			m := r.Msg
			if err := svc.CheckFault(ctx, m.Get("mch_id"), "downloadbill"); err != nil {
				writeBillRefusal(w, bill.Refuse(bill.SystemError))
				return
			}
			req, err := bill.CheckRequest(m.Get("bill_date"), m.Get("bill_type"), m.Get("tar_type"), c.Now())
			var ref *bill.Refusal
			if errors.As(err, &ref) && ref.ReturnMsg == bill.BillCreating {
				// A merchant in instant bill mode gets the day's trades so far.
				instant, ierr := svc.BillsInstantly(ctx, r.Caller.Merchant.MchID)
				if ierr != nil {
					writeBillRefusal(w, bill.Refuse(bill.SystemError))
					return
				}
				if instant {
					err = nil
				}
			}
			if err != nil {
				writeBillError(w, err)
				return
			}
			owners := []string{r.Caller.Merchant.MchID}
			layout := bill.Direct
			if r.Caller.Merchant.Kind == tenant.ServiceProvider {
				layout = bill.ServiceProvider
				if r.Caller.Sub != nil {
					owners = []string{r.Caller.Sub.MchID}
				} else if owners, err = subMerchants(r, tenants); err != nil {
					writeBillRefusal(w, bill.Refuse(bill.SystemError))
					return
				}
			}
			rows, err := svc.BillRows(ctx, owners, req.Day)
			if err != nil {
				writeBillRefusal(w, bill.Refuse(bill.SystemError))
				return
			}
			text, err := bill.Format(req.BillType, layout, rows)
			if err != nil {
				writeBillError(w, err)
				return
			}
			if req.Gzip {
				gz, err := bill.Gzip(text)
				if err != nil {
					writeBillRefusal(w, bill.Refuse(bill.CompressGZipError))
					return
				}
				w.Header().Set("Content-Type", "application/octet-stream")
				_, _ = w.Write(gz)
				return
			}
			w.Header().Set("Content-Type", "text/plain;charset=utf-8")
			_, _ = w.Write(text)
		},
	}
}

// subMerchants is every sub-merchant of the calling service provider: its bill
// without sub_mch_id covers them all.
func subMerchants(r *Request, tenants *tenant.Service) ([]string, error) {
	all, err := tenants.Merchants(r.Request.Context())
	if err != nil {
		return nil, err
	}
	owners := []string{r.Caller.Merchant.MchID}
	for _, m := range all {
		if m.ParentMchID == r.Caller.Merchant.MchID {
			owners = append(owners, m.MchID)
		}
	}
	return owners, nil
}

func writeBillError(w http.ResponseWriter, err error) {
	var rf *bill.Refusal
	if errors.As(err, &rf) {
		writeBillRefusal(w, rf)
		return
	}
	writeBillRefusal(w, bill.Refuse(bill.SystemError))
}

// billRefusal turns an envelope refusal into the bill API's own wording.
func billRefusal(code, _ string) *bill.Refusal {
	switch code {
	case "SIGNERROR":
		return bill.Refuse(bill.SignError)
	case "LACK_PARAMS":
		return bill.Refuse(bill.MissingParameter)
	case "XML_FORMAT_ERROR", "NOT_UTF8":
		return bill.Refuse(bill.DataFormatError)
	case "POST_DATA_EMPTY":
		return bill.Refuse(bill.EmptyPostData)
	case "REQUIRE_POST_METHOD":
		return bill.Refuse(bill.RequirePOST)
	case "APPID_MCHID_NOT_MATCH":
		return bill.Refuse(bill.InvalidAppID)
	case "SYSTEMERROR":
		return bill.Refuse(bill.SystemError)
	}
	return bill.Refuse(bill.InvalidParameter)
}

// writeBillRefusal writes the FAIL body exactly as the bill API does: unsigned, one
// element a line, starting with <xml>.
func writeBillRefusal(w http.ResponseWriter, rf *bill.Refusal) {
	m := v2wire.NewMessage()
	m.Set("return_code", "FAIL")
	m.Set("return_msg", rf.ReturnMsg)
	if rf.ErrorCode != "" {
		m.Set("error_code", rf.ErrorCode)
	}
	writeXML(w, m.Encode())
}
