package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/face/vision"
	"github.com/openfacepay/openfacepay/internal/kiosk"
	"github.com/openfacepay/openfacepay/internal/terminal"
)

func newKiosk() *cobra.Command {
	var (
		platformURL, data, addr, caFile, camera, liveness, pack, cache, logLevel string
		mode, org                                                                string
		syncEvery                                                                time.Duration
		threads                                                                  int
		timeouts                                                                 terminal.Timeouts
	)
	cmd := &cobra.Command{
		Use:   "kiosk",
		Short: "Run the face SDK of one kiosk: the WeChat face SDK's functions on a local HTTP API, and the kiosk page",
		Long: `Runs one device's face SDK against the platform at --platform, for the kiosk's app on
--addr (127.0.0.1 only):

  POST /wxpayface/{function}   the Android SDK's map in, the callback's map out
                               (initWxpayface, getWxpayfaceRawdata, getWxpayfaceUserInfo,
                               getWxpayfaceCode, activateWxpayfaceMember,
                               updateWxpayfacePayResult, stopWxpayface, releaseWxpayface,
                               openCamera, closeCamera, openCameraWithoutPreview,
                               openCameraWithPreview)
  POST /wxFacePay/{method}     the APICloud wxFacePay module's shape: {"status":true,…} or
                               {"status":false,"err":{"errorCode","msg"}}
  GET  /wxFacePay.js           api.require('wxFacePay') for a page, talking to this kiosk
                               With --mode offline --org ORGANIZATION_ID, the K12 offline SDK
                               instead: initWxpayface (needs the platform),
                               getWxpayfaceRawdata (raw_data for offlineface/authinfo),
                               preloadSdkEnv and manualUpdateFaceDatas (the common map:
                               appid, mch_id, sub_mch_id, organization_id, authinfo),
                               clearFaceDatas, getSdkInfo, setCameraPreview, startVerify,
                               stopVerify, stopCamera, finishFaceVerify (user_phone),
                               getFacePayCredential (user_id, recog_mode, total_fee ->
                               face_token, the auth_code of offlineface/transactions),
                               releaseWxpayface. The school's face library is pulled every
                               --sync-interval and kept in --data sealed to the device key;
                               recognition and credentials need no network.
  PUT  /kiosk/camera           a JPEG, PNG or WebP: what a still camera sees from then on
  POST /kiosk/frame            a JPEG frame from the kiosk page's camera (--camera page)
  POST /kiosk/phone            {"tail":"1234"}: the phone keypad's answer when asked
  POST /kiosk/cancel           the person cancels (getWxpayfaceCode answers USER_CANCEL)
  GET  /kiosk/state            the page's state; GET / is the kiosk page; GET /healthz

The device key is created in --data on first start and kept there. The kiosk detects,
checks liveness and embeds on the device and sends the platform the template, never the
photo. Liveness (a random turn or nod the face must follow) is on by default;
--liveness off exists only for emulated cameras (a still picture can never pass), and
then the kiosk warns at start and on its page.`,
		Example: `  facepay kiosk --platform https://127.0.0.1:8443 --ca ca.pem --data ./kiosk --camera still:alice.jpg --liveness off
  facepay kiosk --platform https://127.0.0.1:8443 --ca ca.pem --data ./kiosk --addr 127.0.0.1:8600`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := newLogger(logLevel)
			if liveness != "on" && liveness != "off" {
				return fmt.Errorf("--liveness is on or off, not %q", liveness)
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil || (host != "127.0.0.1" && host != "localhost" && host != "::1") {
				return fmt.Errorf("--addr %q: the kiosk's local API listens on 127.0.0.1 only", addr)
			}
			var pool *x509.CertPool
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return err
				}
				pool = x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("%s holds no PEM certificate", caFile)
				}
			}
			still := terminal.NewStill(nil)
			var src terminal.Source = still
			var page *kiosk.PageCamera
			switch {
			case camera == "page":
				page = kiosk.NewPageCamera(5 * time.Second)
				src, still = page, nil
			case strings.HasPrefix(camera, "video:"):
				f, err := os.Open(strings.TrimPrefix(camera, "video:"))
				if err != nil {
					return err
				}
				frames, err := vision.ReadY4M(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", camera, err)
				}
				src, still = terminal.NewVideo(frames), nil
			case strings.HasPrefix(camera, "still:"):
				img, err := readPhoto(strings.TrimPrefix(camera, "still:"))
				if err != nil {
					return err
				}
				still.Set(img)
			case camera == "still":
			default:
				return fmt.Errorf("--camera %q: page, still, still:FILE or video:FILE.y4m", camera)
			}
			e, err := engine.Open(engine.Config{Pack: pack, Cache: cache, Threads: threads, Warn: os.Stderr})
			if err != nil {
				return err
			}
			defer e.Close()
			cam := terminal.NewCamera(src, nil, timeouts)
			tc := terminal.Config{DataDir: data, Platform: strings.TrimRight(platformURL, "/"), CAPool: pool,
				Engine: e, Camera: cam, Liveness: liveness == "on", Logger: log}
			var sdk terminal.Service
			switch mode {
			case "online":
				sdk, err = terminal.New(tc)
			case "offline":
				if org == "" {
					return fmt.Errorf("--mode offline needs --org: the organisation whose library this kiosk holds")
				}
				sdk, err = terminal.NewOffline(terminal.OfflineConfig{Config: tc, OrgID: org, SyncInterval: syncEvery})
			default:
				return fmt.Errorf("--mode is online or offline, not %q", mode)
			}
			if err != nil {
				return err
			}
			agent := kiosk.New(kiosk.Config{SDK: sdk, Camera: cam, Still: still, Page: page, Liveness: liveness == "on", Logger: log})
			sdk.SetPrompter(agent)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if liveness == "off" {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: "+terminal.LivenessOffWarning)
			}
			fmt.Fprintf(out, "kiosk agent on http://%s (page at /, SDK at /wxpayface/{function} and /wxFacePay/{method}); platform %s\n", ln.Addr(), platformURL)
			fmt.Fprintf(out, "next: curl -X POST http://%s/wxpayface/initWxpayface -d '{}'\n", ln.Addr())
			return serveUntilDone(ctx, ln, agent, 5*time.Second)
		},
	}
	f := cmd.Flags()
	f.StringVar(&platformURL, "platform", "https://127.0.0.1:8443", "the platform's base URL")
	f.StringVar(&data, "data", "./kiosk", "the kiosk's folder: its device key (and, offline, the sealed face library)")
	f.StringVar(&addr, "addr", "127.0.0.1:8600", "local API and page address (127.0.0.1 only)")
	f.StringVar(&caFile, "ca", "", "PEM of the CA that issued the platform's HTTPS certificate (facepay admin ca)")
	f.StringVar(&camera, "camera", "still", "page (the kiosk page's browser camera), still (set the picture with PUT /kiosk/camera), still:FILE or video:FILE.y4m (a recording, looped)")
	f.StringVar(&liveness, "liveness", "on", "the active liveness check: on, or off for emulated cameras only")
	f.StringVar(&pack, "pack", os.Getenv("FACEPAY_PACK"), "face model pack (open, faceplugin); the platform must use the same")
	f.StringVar(&cache, "models", modelpack.CacheDir(), "model cache folder (see `facepay models`)")
	f.IntVar(&threads, "threads", 0, "onnxruntime threads per model (0: all cores)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&mode, "mode", "online", "online (the face payment SDK) or offline (the K12 offline SDK)")
	f.StringVar(&org, "org", "", "with --mode offline: the organization_id whose face library this kiosk holds")
	f.DurationVar(&syncEvery, "sync-interval", terminal.DefaultSyncInterval, "with --mode offline: how often the face library is pulled")
	f.DurationVar(&timeouts.NoFaceGuide, "camera-no-face", terminal.DefaultTimeouts.NoFaceGuide, "camera protection: no face this long with the guide page on closes the camera")
	f.DurationVar(&timeouts.NoFaceNoGuide, "camera-no-face-no-guide", terminal.DefaultTimeouts.NoFaceNoGuide, "camera protection: the same with the guide page off")
	f.DurationVar(&timeouts.NoMatch, "camera-no-match", terminal.DefaultTimeouts.NoMatch, "camera protection: no match this long after recognition starts times out")
	return cmd
}
