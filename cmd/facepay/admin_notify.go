package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

type notificationView struct {
	ID         string `json:"id"`
	MchID      string `json:"mch_id"`
	EventType  string `json:"event_type"`
	URL        string `json:"url"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	NextAt     string `json:"next_at,omitempty"`
	CreatedAt  string `json:"created_at"`
	FinishedAt string `json:"finished_at,omitempty"`
}

type attemptView struct {
	N          int     `json:"n"`
	DueAt      string  `json:"due_at"`
	StartedAt  string  `json:"started_at"`
	HTTPStatus int     `json:"http_status"`
	LatencyMS  float64 `json:"latency_ms"`
	AnswerHead string  `json:"answer_head"`
	Error      string  `json:"error,omitempty"`
}

func viewOf(n notify.Notification) notificationView {
	v := notificationView{ID: n.ID, MchID: n.MchID, EventType: n.EventType, URL: n.URL, State: n.State, Attempts: n.Attempts,
		CreatedAt: n.CreatedAt.Format(time.RFC3339)}
	if n.State == notify.Pending {
		v.NextAt = n.NextAt.Format(time.RFC3339)
	}
	if !n.FinishedAt.IsZero() {
		v.FinishedAt = n.FinishedAt.Format(time.RFC3339)
	}
	return v
}

func newNotifyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Look at the notification outbox and retry dead notifications"}
	var (
		store  storeFlags
		state  string
		limit  int
		asJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List notifications, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch state {
			case "", notify.Pending, notify.Delivered, notify.Dead:
			default:
				return fmt.Errorf("--state must be pending, delivered or dead")
			}
			return withStore(cmd.Context(), &store, func(db *sqlstore.DB) error {
				ns, err := db.Notifications(cmd.Context(), state, limit)
				if err != nil {
					return err
				}
				views := []notificationView{}
				for _, n := range ns {
					views = append(views, viewOf(n))
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), views)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tMCH_ID\tEVENT\tSTATE\tATTEMPTS\tNEXT_AT")
				for _, v := range views {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.MchID, v.EventType, v.State, v.Attempts, v.NextAt)
				}
				return w.Flush()
			})
		},
	}
	store.register(list.Flags())
	list.Flags().StringVar(&state, "state", "", "pending, delivered or dead (default: all)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var (
		showStore storeFlags
		showJSON  bool
	)
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a notification and every attempt: time, HTTP status, latency, the first bytes of the answer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), &showStore, func(db *sqlstore.DB) error {
				n, attempts, err := db.Notification(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				av := []attemptView{}
				for _, a := range attempts {
					av = append(av, attemptView{N: a.N, DueAt: a.DueAt.Format(time.RFC3339), StartedAt: a.StartedAt.Format(time.RFC3339Nano),
						HTTPStatus: a.HTTPStatus, LatencyMS: float64(a.Latency.Microseconds()) / 1000, AnswerHead: a.AnswerHead, Error: a.Error})
				}
				if showJSON {
					return printJSON(cmd.OutOrStdout(), map[string]any{"notification": viewOf(n), "attempts": av})
				}
				v := viewOf(n)
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s to %s: %s after %d attempts\n", v.ID, v.EventType, v.URL, v.State, v.Attempts)
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "N\tSTARTED\tSTATUS\tLATENCY_MS\tANSWER\tERROR")
				for _, a := range av {
					fmt.Fprintf(w, "%d\t%s\t%d\t%.1f\t%q\t%s\n", a.N, a.StartedAt, a.HTTPStatus, a.LatencyMS, a.AnswerHead, a.Error)
				}
				return w.Flush()
			})
		},
	}
	showStore.register(show.Flags())
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var retryStore storeFlags
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Make a notification (usually a dead one) pending again, due now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd.Context(), &retryStore, func(db *sqlstore.DB) error {
				if err := db.Requeue(cmd.Context(), args[0], time.Now()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "notification %s is pending again; a running serve delivers it now\n", args[0])
				return nil
			})
		},
	}
	retryStore.register(retry.Flags())
	cmd.AddCommand(list, show, retry)
	return cmd
}
