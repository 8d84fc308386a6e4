package sqlstore_test

import (
	"testing"

	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

func TestContractSQLite(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t testing.TB) storagetest.Backend { return storagetest.Open(t, "sqlite") })
}

func TestContractPostgres(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t testing.TB) storagetest.Backend { return storagetest.Open(t, "postgres") })
}
