// Drives the parents' pages in Debian's Chromium, a fake camera playing a real photo
// of the child: PHASE=sign collects the face with the camera and signs on the
// contract page; PHASE=recollect uploads a photo without a face (refused), then a new
// photo of the child, and confirms it; PHASE=repay repays the advances; PHASE=seed
// collects and signs each of STUDENTS (JSON [{token, payer, y4m}]), a browser with its
// own camera each. Prints one JSON object of what the pages said; screenshots go to SHOTS.
const { chromium } = require('playwright-core');

const env = process.env;

function launch(y4m) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', '--use-file-for-fake-video-capture=' + y4m],
  });
}

// collectAndSign is a parent's whole enrolment: the face with the camera, then the contract.
async function collectAndSign(page, token, payer) {
  await page.goto(env.BASE + '/k12/collect?token=' + token);
  await page.waitForSelector('#shoot:not([disabled])');
  await page.waitForFunction(() => document.getElementById('video').videoWidth > 0);
  await page.check('#consent');
  await page.click('#shoot');
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('collected'), null, { timeout: 30000 });
  await page.click('#signlink');
  await page.waitForFunction(() => document.getElementById('mode').textContent !== '');
  await page.fill('#payer', payer);
  await page.click('#sign');
  await page.waitForFunction(() => document.getElementById('status').textContent.includes('signed'), null, { timeout: 30000 });
  return page.textContent('#contract');
}

async function seed() {
  const out = { contracts: [] };
  for (const s of JSON.parse(env.STUDENTS)) {
    const browser = await launch(s.y4m);
    const page = await browser.newPage({ viewport: { width: 420, height: 900 } });
    out.contracts.push(await collectAndSign(page, s.token, s.payer));
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
}

async function main() {
  if (env.PHASE === 'seed') return seed();
  const browser = await launch(env.Y4M);
  const page = await browser.newPage({ viewport: { width: 420, height: 900 }, deviceScaleFactor: 1 });
  const shot = (name) => page.screenshot({ path: env.SHOTS + '/' + name, fullPage: true });
  const status = async (want) => {
    await page.waitForFunction((w) => document.getElementById('status').textContent.includes(w), want, { timeout: 30000 });
    return page.textContent('#status');
  };
  const out = {};
  if (env.PHASE === 'sign') {
    await page.goto(env.BASE + '/k12/collect?token=' + env.TOKEN);
    await page.waitForSelector('#shoot:not([disabled])');
    await page.waitForFunction(() => document.getElementById('video').videoWidth > 0);
    await page.check('#consent');
    await shot('k12-1-collect.png');
    await page.click('#shoot');
    out.collected = await status('collected');
    await page.click('#signlink');
    await page.waitForFunction(() => document.getElementById('mode').textContent !== '');
    await page.fill('#payer', env.PAYER);
    await shot('k12-2-sign.png');
    await page.click('#sign');
    out.signed = await status('signed');
    out.contract = await page.textContent('#contract');
    await shot('k12-3-signed.png');
  } else if (env.PHASE === 'recollect') {
    await page.goto(env.BASE + '/k12/collect?token=' + env.TOKEN);
    await page.waitForFunction(() => document.getElementById('title').textContent.includes('re-collection'));
    await page.check('#consent');
    await page.setInputFiles('#file', env.NOFACE);
    out.refused = await status('photo cannot be used');
    await shot('k12-4-refused.png');
    await page.setInputFiles('#file', env.NEWPHOTO);
    out.uploaded = await status('confirm it');
    await shot('k12-5-recollect-confirm.png');
    await page.click('#ok');
    out.confirmed = await status('in use');
  } else if (env.PHASE === 'repay') {
    await page.goto(env.REPAY);
    await page.waitForSelector('#repay:not([disabled])');
    out.total = await page.textContent('#total');
    out.rows = await page.$$eval('#list .row', (rows) => rows.length);
    await shot('k12-6-repay.png');
    await page.click('#repay');
    out.repaid = await status('Repaid');
    await shot('k12-7-repaid.png');
  }
  await browser.close();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
