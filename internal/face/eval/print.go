package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is one pack's evaluation over every condition.
type Report struct {
	Pack      string   `json:"pack"`
	Threshold float64  `json:"threshold"`
	Margin    float64  `json:"margin"`
	Photos    int      `json:"photos"`
	People    int      `json:"people"`
	Pairs     int      `json:"pairs"`
	SamePairs int      `json:"same_pairs"`
	Results   []Result `json:"conditions"`
	Anchors   []Peer   `json:"peers,omitempty"`
}

// Peer is an anchor's best-threshold accuracy on the pairs this run scored.
type Peer struct {
	Name     string  `json:"name"`
	Accuracy float64 `json:"best_accuracy"`
	Pairs    int     `json:"pairs"`
}

func pct(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(d))
}

// Print writes the report as three tables: pairs, 1:N, and probe gates.
func Print(w io.Writer, r Report) {
	fmt.Fprintf(w, "pack %s — rule: cosine ≥ %.3f, look-alike margin %.3f — %d photos, %d people, %d pairs (%d same)\n",
		r.Pack, r.Threshold, r.Margin, r.Photos, r.People, r.Pairs, r.SamePairs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "condition\tno face\tpairs scored\taccuracy at rule\tfalse accepts\tfalse rejects\tbest accuracy\tat\tTAR\tTAR at\tsame min\tother max\t")
	for _, c := range r.Results {
		v := c.Verification
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f %%\t%d\t%d\t%.2f %%\t%.3f\t%.3f\t%s\t%.3f\t%.3f\t\n", c.Condition, c.NoFace, v.Same+v.Diff,
			100*v.Accuracy, v.FalseAccepts, v.FalseRejects, 100*v.BestAccuracy, v.BestThreshold, v.TAR, v.TARAt, v.SameMin, v.DiffMax)
	}
	tw.Flush()
	fmt.Fprintln(w, "1:N, one photo enrolled per person, every other photo probes; then 1, 2, 3 enrolled against the same probes:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "condition\tprobes\trank-1\tidentified\tfalse accepts\tasked tail\tmissed\tgated\t| probes\tidentified k=1\tk=2\tk=3\tfalse accepts k=1/2/3\tright-person score k=1/2/3\t")
	for _, c := range r.Results {
		h := c.Headline
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t| %d", c.Condition, h.Probes, pct(h.Rank1, h.Probes), pct(h.Identified, h.Probes),
			h.Wrong, h.AskedTail, h.Missed, h.Gated, c.ByK[0].Probes)
		var wrong, score []string
		for _, o := range c.ByK {
			fmt.Fprintf(tw, "\t%s", pct(o.Identified, o.Probes))
			wrong = append(wrong, fmt.Sprint(o.Wrong))
			score = append(score, fmt.Sprintf("%.3f", o.RightScore))
		}
		fmt.Fprintf(tw, "\t%s\t%s\t\n", strings.Join(wrong, "/"), strings.Join(score, "/"))
	}
	tw.Flush()
	gateTable(w, r, "genuine probes refused by each probe gate", func(c Result) map[string]int { return c.GateRefusals })
	gateTable(w, r, "photos each enrolment gate would refuse (strict by design; enrolment photos are the first that pass)", func(c Result) map[string]int { return c.EnrolRefused })
	if len(r.Anchors) > 0 {
		var parts []string
		for _, a := range r.Anchors {
			parts = append(parts, fmt.Sprintf("%s %.1f %%", a.Name, 100*a.Accuracy))
		}
		fmt.Fprintf(w, "peers' best-threshold accuracy on the same %d pairs (their published distances): %s\n", r.Anchors[0].Pairs, strings.Join(parts, ", "))
	}
}

func gateTable(w io.Writer, r Report, title string, counts func(Result) map[string]int) {
	gates := map[string]bool{}
	for _, c := range r.Results {
		for g := range counts(c) {
			gates[g] = true
		}
	}
	names := make([]string, 0, len(gates))
	for g := range gates {
		names = append(names, g)
	}
	sort.Strings(names)
	fmt.Fprint(w, title)
	if len(names) == 0 {
		fmt.Fprintf(w, ": none in any condition\n")
	} else {
		fmt.Fprintln(w, ":")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "condition\tphotos\t%s\t\n", strings.Join(names, "\t"))
		for _, c := range r.Results {
			fmt.Fprintf(tw, "%s\t%d", c.Condition, c.Probes)
			for _, g := range names {
				fmt.Fprintf(tw, "\t%s", pct(counts(c)[g], c.Probes))
			}
			fmt.Fprintln(tw, "\t")
		}
		tw.Flush()
	}
}
