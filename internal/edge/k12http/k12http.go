// Package k12http serves the K12 offline-face v3 APIs on the v3 edge: it reads the
// JSON and the RSA-OAEP fields, calls the k12 domain as the authenticated service
// provider, and answers the documented shapes. Errors travel through the v3 edge's
// one table (v3http.Status).
package k12http

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/openfacepay/openfacepay/internal/edge/v3http"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
)

// Register adds the K12 APIs to the v3 handler.
func Register(h *v3http.Handler, svc *k12.Service) {
	a := api{svc: svc}
	h.Handle("GET /v3/offlinefacemch/organizations", a.organisation)
	h.Handle("POST /v3/offlinefacemch/tokens", a.token)
	h.Handle("GET /v3/offlinefacemch/organizations/{organization_id}/users/out-user-id/{out_user_id}", a.user)
	h.Handle("PATCH /v3/offlinefacemch/organizations/{organization_id}/users/out-user-id/{out_user_id}", a.patch)
	h.Handle("POST /v3/offlinefacemch/organizations/{organization_id}/users/user-id/{user_id}/terminate-contract", a.terminate)
	h.Handle("GET /v3/offlineface/contracts/{contract_id}", a.contract)
	h.Handle("POST /v3/offlineface/contracts/presign", a.presign)
	h.Handle("POST /v3/offlineface/authinfo", a.authinfo)
	h.Handle("POST /v3/offlineface/transactions", a.debit)
	h.Handle("GET /v3/offlineface/transactions/out-trade-no/{out_trade_no}", a.queryDebit)
	h.Handle("POST /v3/offlineface/repayment-url", a.repaymentURL)
	h.Handle("GET /v3/offlineface/face-collections", a.collections)
	h.Handle("GET /v3/offlineface/face-collections/{collection_id}", a.collection)
}

type collectionView struct {
	CollectionID            string `json:"collection_id"`
	UserID                  string `json:"user_id"`
	OrganizationID          string `json:"organization_id"`
	CollectionState         string `json:"collection_state"`
	RegisterPhotoUploadTime string `json:"register_photo_upload_time,omitempty"`
	ConfirmTime             string `json:"confirm_time,omitempty"`
}

func viewCollection(c k12.Collection) collectionView {
	v := collectionView{CollectionID: c.ID, UserID: c.UserID, OrganizationID: c.OrgID, CollectionState: c.State}
	if !c.UploadedAt.IsZero() {
		v.RegisterPhotoUploadTime = c.UploadedAt.In(beijing).Format(time.RFC3339)
	}
	if !c.ConfirmedAt.IsZero() {
		v.ConfirmTime = c.ConfirmedAt.In(beijing).Format(time.RFC3339)
	}
	return v
}

// collections pages with offset and limit (default 10, at most 100); the paging
// fields of the answer (offset, limit, total_count) are ours, as the docs publish
// only the list.
func (a api) collections(ctx context.Context, c *v3http.Call) (int, any, error) {
	q := c.Request.URL.Query()
	num := func(name string, def int) (int, error) {
		v := q.Get(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, errcode.E(errcode.Invalid, "%s must be a whole number", name)
		}
		return n, nil
	}
	offset, err := num("offset", 0)
	if err != nil {
		return 0, nil, err
	}
	limit, err := num("limit", 10)
	if err != nil {
		return 0, nil, err
	}
	list, total, err := a.svc.ListCollections(ctx, caller(c), q.Get("organization_id"), offset, limit)
	if err != nil {
		return 0, nil, err
	}
	out := struct {
		FaceCollections []collectionView `json:"face_collections"`
		Offset          int              `json:"offset"`
		Limit           int              `json:"limit"`
		TotalCount      int              `json:"total_count"`
	}{FaceCollections: []collectionView{}, Offset: offset, Limit: limit, TotalCount: total}
	for _, col := range list {
		out.FaceCollections = append(out.FaceCollections, viewCollection(col))
	}
	return http.StatusOK, out, nil
}

func (a api) collection(ctx context.Context, c *v3http.Call) (int, any, error) {
	col, err := a.svc.GetCollection(ctx, caller(c), c.Request.PathValue("collection_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, viewCollection(col), nil
}

type debitRequest struct {
	AuthCode string `json:"auth_code"`
	SPAppID  string `json:"sp_appid"`
	SPMchID  string `json:"sp_mchid"`
	SubAppID string `json:"sub_appid"`
	SubMchID string `json:"sub_mchid"`
	Amount   struct {
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
	SceneInfo struct {
		DeviceIP string `json:"device_ip"`
	} `json:"scene_info"`
	GoodsTag    string `json:"goods_tag"`
	Description string `json:"description"`
	Attach      string `json:"attach"`
	SettleInfo  struct {
		ProfitSharing bool `json:"profit_sharing"`
	} `json:"settle_info"`
	OutTradeNo string `json:"out_trade_no"`
	Business   struct {
		ProductID int64 `json:"business_product_id"`
		SceneID   int64 `json:"business_scene_id"`
	} `json:"business"`
}

// debit answers 200 for every debit the platform processed, paid or not: the outcome
// is in trade_state [FAQ 2.2]. 4xx is for requests it could not process.
func (a api) debit(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r debitRequest
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	d, err := a.svc.Withhold(ctx, caller(c), k12.DebitRequest{AuthCode: r.AuthCode, SPAppID: r.SPAppID, SPMchID: r.SPMchID,
		SubAppID: r.SubAppID, SubMchID: r.SubMchID, Total: r.Amount.Total, Currency: r.Amount.Currency, DeviceIP: r.SceneInfo.DeviceIP,
		GoodsTag: r.GoodsTag, Description: r.Description, Attach: r.Attach, OutTradeNo: r.OutTradeNo, ProfitSharing: r.SettleInfo.ProfitSharing,
		ProductID: r.Business.ProductID, SceneID: r.Business.SceneID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d.View(), nil
}

func (a api) queryDebit(ctx context.Context, c *v3http.Call) (int, any, error) {
	q := c.Request.URL.Query()
	if sp := q.Get("sp_mchid"); sp != "" && sp != c.Merchant.MchID {
		return 0, nil, errcode.E(errcode.NotFound, "the debit does not exist")
	}
	product, err := strconv.ParseInt(q.Get("business_product_id"), 10, 64)
	if err != nil {
		return 0, nil, errcode.E(errcode.Invalid, "business_product_id must be 2 or 11")
	}
	d, err := a.svc.QueryDebit(ctx, caller(c), q.Get("sub_mchid"), c.Request.PathValue("out_trade_no"), product)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, d.View(), nil
}

func (a api) repaymentURL(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r struct {
		OutUserID      string `json:"out_user_id"`
		OrganizationID string `json:"organization_id"`
	}
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	scheme := "https"
	if c.Request.TLS == nil {
		scheme = "http"
	}
	link, exp, err := a.svc.RepaymentURL(ctx, caller(c), r.OrganizationID, r.OutUserID, scheme+"://"+c.Request.Host)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"repayment_url": link, "expire_at": exp.In(beijing).Format(time.RFC3339)}, nil
}

func (a api) authinfo(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r struct {
		SPAppID        string `json:"sp_appid"`
		SubAppID       string `json:"sub_appid"`
		SubMchID       string `json:"sub_mchid"`
		DeviceID       string `json:"device_id"`
		RawData        string `json:"raw_data"`
		OrganizationID string `json:"organization_id"`
	}
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	ai, _, err := a.svc.OfflineAuthInfo(ctx, caller(c), k12.OfflineAuthInfoRequest{SPAppID: r.SPAppID, SubAppID: r.SubAppID,
		SubMchID: r.SubMchID, DeviceID: r.DeviceID, RawData: r.RawData, OrgID: r.OrganizationID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"authinfo": ai}, nil
}

type idDoc struct {
	Type   string `json:"identification_type"`
	Number string `json:"identification_number"` // RSA-OAEP
}

type presignRequest struct {
	BusinessName string `json:"business_name"`
	FacepayUser  struct {
		OutUserID          string `json:"out_user_id"`
		IdentificationName string `json:"identification_name"`
		OrganizationID     string `json:"organization_id"`
		Identification     *idDoc `json:"identification"`
		Phone              string `json:"phone"` // RSA-OAEP
	} `json:"facepay_user"`
	LimitBankCard *struct {
		BankCardNumber     string `json:"bank_card_number"`    // RSA-OAEP
		IdentificationName string `json:"identification_name"` // RSA-OAEP
		Identification     *idDoc `json:"identification"`
		ValidThru          string `json:"valid_thru"`
		BankType           string `json:"bank_type"`
		Phone              string `json:"phone"` // RSA-OAEP
	} `json:"limit_bank_card"`
	ContractMode string `json:"contract_mode"`
}

func (a api) presign(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r presignRequest
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	open := func(dst *string, ct string) error {
		if ct == "" {
			return nil
		}
		pt, err := c.DecryptField(ct)
		*dst = pt
		return err
	}
	u := r.FacepayUser
	p := k12.Presign{BusinessName: r.BusinessName, OrgID: u.OrganizationID, OutUserID: u.OutUserID, Name: u.IdentificationName, Mode: r.ContractMode}
	if err := open(&p.Phone, u.Phone); err != nil {
		return 0, nil, err
	}
	if u.Identification != nil {
		p.IDType = u.Identification.Type
		if err := open(&p.IDNumber, u.Identification.Number); err != nil {
			return 0, nil, err
		}
	}
	if lc := r.LimitBankCard; lc != nil {
		p.CardValidThru, p.CardBankType = lc.ValidThru, lc.BankType
		for _, f := range []struct {
			dst *string
			ct  string
		}{{&p.CardNumber, lc.BankCardNumber}, {&p.CardHolder, lc.IdentificationName}, {&p.CardPhone, lc.Phone}} {
			if err := open(f.dst, f.ct); err != nil {
				return 0, nil, err
			}
		}
		if lc.Identification != nil {
			p.CardHolderType = lc.Identification.Type
			if err := open(&p.CardHolderID, lc.Identification.Number); err != nil {
				return 0, nil, err
			}
		}
	}
	tok, err := a.svc.NewPresign(ctx, caller(c), p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"presign_token": tok}, nil
}

func (a api) terminate(ctx context.Context, c *v3http.Call) (int, any, error) {
	if err := a.svc.Terminate(ctx, caller(c), c.Request.PathValue("organization_id"), c.Request.PathValue("user_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

type contractView struct {
	ContractID             string `json:"contract_id"`
	MchID                  string `json:"mchid"`
	OrganizationID         string `json:"organization_id"`
	UserID                 string `json:"user_id"`
	OpenID                 string `json:"openid"`
	ContractState          string `json:"contract_state"`
	ContractSignedTime     string `json:"contract_signed_time"`
	ContractTerminatedTime string `json:"contract_terminated_time,omitempty"`
	ContractMode           string `json:"contract_mode"`
	ContractBankCardFrom   string `json:"contract_bank_card_from,omitempty"`
}

var beijing = time.FixedZone("CST", 8*3600)

func (a api) contract(ctx context.Context, c *v3http.Call) (int, any, error) {
	ct, err := a.svc.GetContract(ctx, caller(c), c.Request.PathValue("contract_id"))
	if err != nil {
		return 0, nil, err
	}
	v := contractView{ContractID: ct.ContractID, MchID: ct.SPMchID, OrganizationID: ct.OrgID, UserID: ct.UserID, OpenID: ct.OpenID,
		ContractState: ct.State, ContractSignedTime: ct.SignedAt.In(beijing).Format(time.RFC3339), ContractMode: ct.Mode,
		ContractBankCardFrom: ct.CardFrom}
	if !ct.TerminatedAt.IsZero() {
		v.ContractTerminatedTime = ct.TerminatedAt.In(beijing).Format(time.RFC3339)
	}
	return http.StatusOK, v, nil
}

type api struct{ svc *k12.Service }

func caller(c *v3http.Call) k12.Caller { return k12.Caller{MchID: c.Merchant.MchID} }

func (a api) organisation(ctx context.Context, c *v3http.Call) (int, any, error) {
	q := c.Request.URL.Query()
	o, err := a.svc.FindOrganisation(ctx, caller(c), q.Get("organization_id"), q.Get("organization_name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"organization_id": o.ID, "organization_name": o.Name}, nil
}

type tokenRequest struct {
	Scene       string `json:"scene"`
	WebInitData struct {
		OutUserID      string `json:"out_user_id"`
		OrganizationID string `json:"organization_id"`
	} `json:"web_init_data"`
}

func (a api) token(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r tokenRequest
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	if r.Scene != "" && r.Scene != "WEBSESSION" {
		return 0, nil, errcode.E(errcode.Invalid, "scene must be WEBSESSION")
	}
	tok, err := a.svc.IssueToken(ctx, caller(c), r.WebInitData.OrganizationID, r.WebInitData.OutUserID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"token": tok}, nil
}

type userView struct {
	UserID         string       `json:"user_id"`
	OutUserID      string       `json:"out_user_id"`
	OrganizationID string       `json:"organization_id"`
	UserName       string       `json:"user_name,omitempty"`
	UserType       string       `json:"user_type"`
	StudentInfo    *studentInfo `json:"student_info,omitempty"`
	StaffInfo      *staffInfo   `json:"staff_info,omitempty"`
	Status         string       `json:"status"`
	ContractState  string       `json:"contract_state"`
	FaceImageOK    bool         `json:"face_image_ok"`
	ContractID     string       `json:"contract_id,omitempty"`
}

type studentInfo struct {
	ClassName string `json:"class_name"`
}

type staffInfo struct {
	Occupation string `json:"occupation"`
}

func (a api) user(ctx context.Context, c *v3http.Call) (int, any, error) {
	u, err := a.svc.GetUser(ctx, caller(c), c.Request.PathValue("organization_id"), c.Request.PathValue("out_user_id"))
	if err != nil {
		return 0, nil, err
	}
	v := userView{UserID: u.UserID, OutUserID: u.OutUserID, OrganizationID: u.OrgID, UserName: u.Name, UserType: u.UserType,
		Status: u.Status, ContractState: u.ContractState, FaceImageOK: u.FaceImageOK, ContractID: u.ContractID}
	if u.UserType == k12.Staff {
		v.StaffInfo = &staffInfo{Occupation: u.Occupation}
	} else {
		v.StudentInfo = &studentInfo{ClassName: u.ClassName}
	}
	return http.StatusOK, v, nil
}

type patchRequest struct {
	UserName    *string `json:"user_name"`
	UserType    *string `json:"user_type"`
	StudentInfo *struct {
		ClassName *string `json:"class_name"`
	} `json:"student_info"`
	StaffInfo *struct {
		Occupation *string `json:"occupation"`
	} `json:"staff_info"`
	Status *string `json:"status"`
	Phone  *string `json:"phone"`
}

func (a api) patch(ctx context.Context, c *v3http.Call) (int, any, error) {
	var r patchRequest
	if err := c.DecodeJSON(&r); err != nil {
		return 0, nil, err
	}
	p := k12.Patch{UserType: r.UserType, Status: r.Status}
	for _, f := range []struct {
		in  *string
		out **string
	}{{r.UserName, &p.Name}, {r.Phone, &p.Phone}} {
		if f.in == nil {
			continue
		}
		pt, err := c.DecryptField(*f.in)
		if err != nil {
			return 0, nil, err
		}
		*f.out = &pt
	}
	if r.StudentInfo != nil {
		p.ClassName = r.StudentInfo.ClassName
	}
	if r.StaffInfo != nil {
		p.Occupation = r.StaffInfo.Occupation
	}
	if err := a.svc.PatchUser(ctx, caller(c), c.Request.PathValue("organization_id"), c.Request.PathValue("out_user_id"), p); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
