package sqlstore

// MerchantCached tells whether the store serves mchID from its merchant cache.
func (db *DB) MerchantCached(mchID string) bool {
	if db.merchants == nil {
		return false
	}
	db.merchants.mu.Lock()
	defer db.merchants.mu.Unlock()
	_, ok := db.merchants.items[mchID]
	return ok
}
