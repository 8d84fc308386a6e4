// wxFacePay for the browser: api.require('wxFacePay') gives the APICloud module's
// methods, each sent to this kiosk agent, so the module's own sample code runs
// unchanged in a page. callback(ret, err): ret.status true with the fields, or
// ret.status false and err = {errorCode, msg}.
(function () {
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : window.location.origin;
  // The online SDK's methods and the K12 offline SDK's (a kiosk runs one of them).
  var methods = ['initWxpayface', 'getWxpayfaceRawdata', 'getWxpayfaceUserInfo', 'getWxpayfaceCode',
    'activateWxpayfaceMember', 'updateWxpayfacePayResult', 'stopWxpayface', 'releaseWxpayface',
    'preloadSdkEnv', 'manualUpdateFaceDatas', 'clearFaceDatas', 'getSdkInfo', 'setCameraPreview', 'startVerify',
    'stopVerify', 'stopCamera', 'finishFaceVerify', 'getFacePayCredential'];
  function call(method, params, callback) {
    fetch(base + '/wxFacePay/' + method, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params || {})
    }).then(function (r) { return r.json(); }).then(function (ret) {
      if (!callback) return;
      // A function that calls back several times (startVerify: FIRST_FRAME_CALLBACK,
      // then its result) answers the earlier callbacks in the order they came.
      (ret.callbacks || []).forEach(function (c) { callback({ status: true, return_code: c.return_code }, null); });
      delete ret.callbacks;
      if (ret.status) callback(ret, null);
      else callback({ status: false }, ret.err);
    }).catch(function (e) {
      if (callback) callback({ status: false }, { errorCode: 'SYSTEMERROR', msg: 'the kiosk agent is unreachable: ' + e });
    });
  }
  var wxFacePay = {};
  methods.forEach(function (m) {
    wxFacePay[m] = function (params, callback) {
      if (typeof params === 'function') { callback = params; params = {}; }
      call(m, params, callback);
    };
  });
  window.api = window.api || {};
  var previous = window.api.require;
  window.api.require = function (name) {
    if (name === 'wxFacePay') return wxFacePay;
    if (previous) return previous(name);
    throw new Error('module ' + name + ' is not available here');
  };
})();
