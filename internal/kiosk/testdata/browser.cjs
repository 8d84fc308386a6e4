// Drives the kiosk page in Debian's Chromium with a fake camera, as a kiosk app on an
// APICloud page would: the wxFacePay module from /wxFacePay.js, the merchant server for
// authinfo and the payment. Prints one JSON object of results; screenshots go to SHOTS.
const { chromium } = require('playwright-core');

const env = process.env;
const shots = env.SHOTS;

async function launch(y4m) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', '--use-file-for-fake-video-capture=' + y4m],
  });
}

// The app's code, run in the page: the APICloud module's calls in its callback style.
async function appFlow(page, cfg) {
  return page.evaluate(async (cfg) => {
    const wxFacePay = api.require('wxFacePay');
    const call = (fn, params) => new Promise((resolve) => {
      const cb = (ret, err) => resolve({ ret, err });
      if (params === undefined) wxFacePay[fn](cb); else wxFacePay[fn](params, cb);
    });
    const post = (path, body) => fetch(cfg.merchant + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body) }).then((r) => r.json());
    const out = {};
    out.init = await call('initWxpayface', { perform_mode: 'NORMAL_PRFORM' });
    const raw = await call('getWxpayfaceRawdata');
    const ai = await post('/merchant/authinfo', { store_id: 'STORE-001', store_name: '一号店', device_id: 'KIOSK-1', rawdata: raw.ret.rawdata });
    const common = { appid: cfg.appid, mch_id: cfg.mch_id, store_id: 'STORE-001', authinfo: ai.authinfo };
    if (cfg.flow === 'member') {
      out.user = await call('getWxpayfaceUserInfo', Object.assign({ face_authtype: 'FACEID-ONCE', ask_unionid: '1' }, common));
      if (out.user.ret.status) out.member = await call('activateWxpayfaceMember', Object.assign({ openid: out.user.ret.openid }, common));
      return out;
    }
    out.code = await call('getWxpayfaceCode', Object.assign({ face_authtype: 'FACEPAY', out_trade_no: cfg.out_trade_no, total_fee: String(cfg.total_fee) }, common));
    if (!out.code.ret.status) return out;
    out.pay = await post('/merchant/pay', { out_trade_no: cfg.out_trade_no, total_fee: cfg.total_fee, face_code: out.code.ret.face_code, body: 'lunch' });
    out.result = await call('updateWxpayfacePayResult', Object.assign({ payresult: out.pay.state === 'SUCCESS' ? 'SUCCESS' : 'ERROR' }, common));
    return out;
  }, cfg);
}

async function waitPrompt(page, text) {
  try {
    await page.waitForFunction((t) => document.getElementById('prompt').textContent.includes(t), text, { timeout: 20000 });
  } catch (e) {
    throw new Error('waiting for "' + text + '", the page says "' + await page.textContent('#prompt') + '": ' + e.message);
  }
}

(async () => {
  const cfg = JSON.parse(env.CFG);
  const results = {};
  // 1. Payment: welcome, the amount and face step, the keypad-free success.
  let browser = await launch(env.Y4M_PAYER);
  let page = await browser.newPage({ viewport: { width: 720, height: 860 } });
  await page.goto(env.KIOSK + '/');
  await waitPrompt(page, 'Welcome');
  await page.screenshot({ path: shots + '/kiosk-1-welcome.png', fullPage: true });
  await page.addScriptTag({ url: env.KIOSK + '/wxFacePay.js' });
  const paying = appFlow(page, Object.assign({ flow: 'pay', out_trade_no: 'WEB-1', total_fee: 1234 }, cfg));
  await Promise.race([
    page.waitForFunction(() => document.getElementById('amount').textContent.includes('12.34'), null, { timeout: 20000 }),
    paying.then((r) => { if (!r.code || !r.code.ret.status) throw new Error('the pay flow ended early: ' + JSON.stringify(r)); }),
  ]);
  await page.screenshot({ path: shots + '/kiosk-2-amount-and-face.png', fullPage: true });
  results.pay = await paying;
  await waitPrompt(page, 'Paid');
  await page.screenshot({ path: shots + '/kiosk-3-paid.png', fullPage: true });
  // 2. Member flow on the same face.
  results.member = await appFlow(page, Object.assign({ flow: 'member' }, cfg));
  await waitPrompt(page, 'Member card');
  await page.screenshot({ path: shots + '/kiosk-4-member-card.png', fullPage: true });
  await browser.close();

  // 3. A stranger.
  browser = await launch(env.Y4M_STRANGER);
  page = await browser.newPage({ viewport: { width: 720, height: 860 } });
  await page.goto(env.KIOSK + '/');
  await page.addScriptTag({ url: env.KIOSK + '/wxFacePay.js' });
  results.stranger = await appFlow(page, Object.assign({ flow: 'pay', out_trade_no: 'WEB-2', total_fee: 500 }, cfg));
  await page.screenshot({ path: shots + '/kiosk-5-stranger.png', fullPage: true });
  await browser.close();

  // 4. A look-alike: the keypad asks for the last 4 digits of the phone number.
  browser = await launch(env.Y4M_TWIN);
  page = await browser.newPage({ viewport: { width: 720, height: 860 } });
  await page.goto(env.KIOSK + '/');
  await page.addScriptTag({ url: env.KIOSK + '/wxFacePay.js' });
  const twin = appFlow(page, Object.assign({ flow: 'pay', out_trade_no: 'WEB-3', total_fee: 300 }, cfg));
  await Promise.race([
    page.waitForSelector('#keypad button', { state: 'visible', timeout: 20000 }),
    twin.then((r) => { throw new Error('the look-alike flow ended without the keypad: ' + JSON.stringify(r)); }),
  ]);
  for (const k of cfg.twin_tail.split('')) await page.click('#keypad button[data-key="' + k + '"]');
  await page.screenshot({ path: shots + '/kiosk-6-phone-tail.png', fullPage: true });
  await page.click('#keypad button[data-key="OK"]');
  results.twin = await twin;
  await browser.close();

  // 5. A kiosk with liveness on: a still picture never passes.
  browser = await launch(env.Y4M_PAYER);
  page = await browser.newPage({ viewport: { width: 720, height: 860 } });
  await page.goto(env.KIOSK_LIVE + '/');
  await page.addScriptTag({ url: env.KIOSK_LIVE + '/wxFacePay.js' });
  results.liveness = await appFlow(page, Object.assign({ flow: 'pay', out_trade_no: 'WEB-4', total_fee: 100 }, cfg));
  await waitPrompt(page, 'liveness');
  await page.screenshot({ path: shots + '/kiosk-7-liveness-refused.png', fullPage: true });
  await browser.close();
  process.stdout.write(JSON.stringify(results));
})().catch((e) => { console.error(e); process.exit(1); });
