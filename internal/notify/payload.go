package notify

import "encoding/json"

// Field is one named value, kept in order.
type Field struct {
	Name  string `json:"n"`
	Value string `json:"v"`
}

// V2Refund is the content of a v2 refund notification: the outer envelope fields and
// the fields that go, encrypted, into req_info.
type V2Refund struct {
	Outer   []Field `json:"outer"`
	ReqInfo []Field `json:"req_info"`
}

// V3Event is the content of a v3 notification: the envelope's texts and the resource
// that is encrypted with the merchant's APIv3 key at each attempt.
type V3Event struct {
	Summary        string          `json:"summary"`
	ResourceType   string          `json:"resource_type"`
	OriginalType   string          `json:"original_type"`
	AssociatedData string          `json:"associated_data"`
	Resource       json.RawMessage `json:"resource"`
}
