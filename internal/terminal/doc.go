// Package terminal is the WeChat face SDK as it runs on a kiosk: the SDK's state
// machine and functions with their parameters, answers and codes, camera control
// with its protection timeouts, and the signed client of the platform's terminal
// API. The kiosk agent (internal/kiosk) serves it to the kiosk's app.
package terminal
