package sqlstore

// MerchantCached tells whether the store serves mchID from its merchant cache.
func (db *DB) MerchantCached(mchID string) bool { return db.cached(cacheKey{keyMerchant, mchID}) }

// CertCached tells whether the store serves a merchant certificate from the cache.
func (db *DB) CertCached(serialNo string) bool { return db.cached(cacheKey{keyCert, serialNo}) }

// IdentitiesCached tells whether the store serves mchID's platform identities from
// the cache.
func (db *DB) IdentitiesCached(mchID string) bool { return db.cached(cacheKey{keyIdentities, mchID}) }

func (db *DB) cached(k cacheKey) bool {
	if db.merchants == nil {
		return false
	}
	db.merchants.mu.Lock()
	defer db.merchants.mu.Unlock()
	_, ok := db.merchants.items[k]
	return ok
}
