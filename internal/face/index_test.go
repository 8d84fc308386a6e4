package face

import (
	"math/rand/v2"
	"testing"
)

// Index correctness is about arithmetic, not faces: these are synthetic unit vectors,
// used only to check the search against a brute-force reference.
func synthetic(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return Normalize(v)
}

func TestIndexMatchesBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, n = 131, 500 // an odd dimension exercises the tail of the unrolled loop
	x := NewIndex(dim)
	vecs := map[string][]float32{}
	for i := range n {
		id := string(rune('A'+i%26)) + string(rune('a'+i/26))
		vecs[id] = synthetic(rng, dim)
		x.Put(id, "", vecs[id])
	}
	for _, id := range []string{"Aa", "Bb", "Cc"} {
		x.Remove(id)
		delete(vecs, id)
	}
	replaced := synthetic(rng, dim)
	x.Put("Dd", "1234", replaced)
	vecs["Dd"] = replaced
	if x.Len() != len(vecs) {
		t.Fatalf("index holds %d, want %d", x.Len(), len(vecs))
	}
	for range 50 {
		q := synthetic(rng, dim)
		got := x.Search(q, 5)
		bestID, best := "", float64(-2)
		for id, v := range vecs {
			var s float64
			for i := range v {
				s += float64(v[i]) * float64(q[i])
			}
			if s > best {
				bestID, best = id, s
			}
		}
		if got[0].PersonID != bestID || abs(float64(got[0].Score)-best) > 1e-5 {
			t.Fatalf("best %s %.6f, brute force %s %.6f", got[0].PersonID, got[0].Score, bestID, best)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Score > got[i-1].Score {
				t.Fatal("results are not sorted best first")
			}
		}
	}
	if got := x.Search(replaced, 1); got[0].PersonID != "Dd" || got[0].PhoneTail != "1234" {
		t.Fatalf("a replaced template is not found by itself: %+v", got)
	}
	if x.Remove("nobody") {
		t.Fatal("removed a person that was never there")
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestRuleAndPhoneTail(t *testing.T) {
	t.Parallel()
	r := Rule{Threshold: 0.5, Margin: 0.05}
	clear := r.Decide([]Candidate{{"A", "1111", 0.9}, {"B", "2222", 0.6}})
	if clear.Match == nil || clear.Match.PersonID != "A" || clear.NeedExtVerify {
		t.Fatalf("a clear winner: %+v", clear)
	}
	if none := r.Decide([]Candidate{{"A", "1111", 0.49}}); none.Match != nil || none.NeedExtVerify {
		t.Fatalf("below the threshold: %+v", none)
	}
	twins := r.Decide([]Candidate{{"A", "1111", 0.80}, {"B", "2222", 0.77}, {"C", "2222", 0.76}, {"D", "3333", 0.70}})
	if twins.Match != nil || !twins.NeedExtVerify || len(twins.Candidates) != 3 {
		t.Fatalf("look-alikes: %+v", twins)
	}
	if c, err := ResolveByTail(twins, "1111"); err != nil || c.PersonID != "A" {
		t.Fatalf("tail 1111: %+v %v", c, err)
	}
	if _, err := ResolveByTail(twins, "2222"); !IsCode(err, 271378587) {
		t.Fatalf("two look-alikes with one tail: %v", err)
	}
	if _, err := ResolveByTail(twins, "3333"); !IsCode(err, 271378595) {
		t.Fatalf("a tail outside the look-alikes: %v", err)
	}
	if c, err := ResolveByTail(clear, ""); err != nil || c.PersonID != "A" {
		t.Fatalf("a clear match needs no tail: %v", err)
	}
}
