'use strict';
// Every method of the official Node.js `baidu-aip-sdk` (AipImageSearch) against a live engine,
// with exact JSON shapes and the documented errors. tests/conformance/test_node_sdk.py starts
// the engine, creates the applications and runs this file with `node --test`:
//   TUKU_ENGINE  the engine's base URL
//   TUKU_MODE    token | signing | signing-refused
//   TUKU_APPS    JSON: {name: {app_id, api_key, secret_key}}, plus "expired_token"
//   TUKU_PHOTOS  a folder of JPEG photographs
//   TUKU_SAMPLES a folder with flat.png (nothing to describe) and small.png (too small)
// The SDK is pointed at the engine the way baidu-wire §12 tells a Node user to.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { imageSearch: AipImageSearch, HttpClient } = require('baidu-aip-sdk');

const BAIDU = 'https://aip.baidubce.com';
const ENGINE = process.env.TUKU_ENGINE;
const MODE = process.env.TUKU_MODE;
const APPS = JSON.parse(process.env.TUKU_APPS);
const PHOTOS = fs
  .readdirSync(process.env.TUKU_PHOTOS)
  .sort()
  .map((name) => fs.readFileSync(path.join(process.env.TUKU_PHOTOS, name)));
const SERVICES = ['same_hq', 'similar', 'product', 'picturebook', 'materiel'];

// ------------------------------------------------------------------ pointing the SDK

const sent = []; // how each API call authenticated: 'token' or 'signature'
HttpClient.setRequestInterceptor((options) => {
  options.url = options.url.replace(BAIDU, ENGINE);
  if (options.headers) {
    options.headers.host = new URL(ENGINE).host; // the SDK sets Host itself
    sent.push(options.headers.authorization ? 'signature' : 'token');
  }
  return options;
});

function client(name, secret) {
  const app = APPS[name];
  return new AipImageSearch(app.app_id, app.api_key, secret || app.secret_key);
}

// ------------------------------------------------------------------ photos served by URL

const files = new Map();
const server = http.createServer((request, response) => {
  const body = files.get(request.url.slice(1));
  response.writeHead(body ? 200 : 404, { 'Content-Length': body ? body.length : 7 });
  response.end(body || 'missing');
});
let imageBase;
test.before(
  () =>
    new Promise((resolve) => {
      server.listen(0, '127.0.0.1', () => {
        imageBase = `http://127.0.0.1:${server.address().port}`;
        resolve();
      });
    }),
);
test.after(() => server.close());

function url(name, data) {
  files.set(name, data);
  return `${imageBase}/${name}`;
}

// ------------------------------------------------------------------ shapes

function b64(data) {
  return data.toString('base64');
}

function contSign(data) {
  const d = crypto.createHash('sha256').update(data).digest();
  return `${d.readUInt32BE(0)},${d.readUInt32BE(4)}`;
}

function isLogId(value) {
  assert.ok(Number.isSafeInteger(value) && value > 0, `log_id ${value}`);
}

function isError(body, code, msg) {
  assert.deepEqual(Object.keys(body).sort(), ['error_code', 'error_msg', 'log_id'], JSON.stringify(body));
  isLogId(body.log_id);
  assert.deepEqual([body.error_code, body.error_msg], [code, msg]);
}

function isOk(body) {
  assert.deepEqual(Object.keys(body), ['log_id'], JSON.stringify(body));
  isLogId(body.log_id);
}

function isAdded(body, data) {
  assert.deepEqual(body, { log_id: body.log_id, cont_sign: contSign(data) });
  isLogId(body.log_id);
}

function isSearch(body) {
  assert.deepEqual(Object.keys(body).sort(), ['has_more', 'log_id', 'result', 'result_num'], JSON.stringify(body));
  isLogId(body.log_id);
  assert.equal(body.has_more, false);
  assert.equal(body.result_num, body.result.length);
  const scores = body.result.map((hit) => hit.score);
  assert.deepEqual(scores, [...scores].sort((x, y) => y - x));
  return body.result;
}

// ------------------------------------------------------------------ the SDK's 50 methods

// The Node SDK is not uniform: some services take `brief` positionally, others in options.
const BRIEF_FIRST_ADD = new Set(['same_hq', 'picturebook', 'materiel']);
const PREFIX = {
  same_hq: 'sameHq',
  similar: 'similar',
  product: 'product',
  picturebook: 'pictureBook',
  materiel: 'materiel',
};

function methods(service) {
  const p = PREFIX[service];
  const book = service === 'picturebook';
  return {
    add: book ? 'pictureBookAddImage' : `${p}Add`,
    addUrl: `${p}AddUrl`,
    search: book ? 'pictureBookSearchImage' : `${p}Search`,
    searchUrl: `${p}SearchUrl`,
    update: `${p}Update`,
    updateUrl: `${p}UpdateUrl`,
    updateSign: `${p}UpdateContSign`,
    deleteImage: `${p}DeleteByImage`,
    deleteUrl: `${p}DeleteByUrl`,
    deleteSign: `${p}DeleteBySign`,
  };
}

class Service {
  constructor(sdk, service) {
    this.sdk = sdk;
    this.service = service;
    this.m = methods(service);
  }

  call(name, ...args) {
    return this.sdk[name](...args);
  }

  add(data, brief, options = {}) {
    return this.addAny(this.m.add, b64(data), brief, options);
  }

  addUrl(address, brief, options = {}) {
    return this.addAny(this.m.addUrl, address, brief, options);
  }

  addAny(name, target, brief, options) {
    if (BRIEF_FIRST_ADD.has(this.service)) return this.call(name, target, brief, options);
    return this.call(name, target, { brief, ...options });
  }

  search(data, options = {}) {
    return this.call(this.m.search, b64(data), options);
  }

  searchUrl(address, options = {}) {
    return this.call(this.m.searchUrl, address, options);
  }

  // Only materiel's update methods take `brief` positionally.
  updateAny(name, target, brief, options) {
    if (this.service === 'materiel') return this.call(name, target, brief, options);
    return this.call(name, target, { brief, ...options });
  }

  update(data, brief, options = {}) {
    return this.updateAny(this.m.update, b64(data), brief, options);
  }

  updateUrl(address, brief, options = {}) {
    return this.updateAny(this.m.updateUrl, address, brief, options);
  }

  updateSign(sign, brief, options = {}) {
    return this.updateAny(this.m.updateSign, sign, brief, options);
  }

  deleteImage(data) {
    return this.call(this.m.deleteImage, b64(data), {});
  }

  deleteUrl(address) {
    return this.call(this.m.deleteUrl, address, {});
  }

  deleteSign(sign) {
    return this.call(this.m.deleteSign, sign, {});
  }
}

function labels(service, ...values) {
  if (service === 'product') {
    return Object.fromEntries(values.map((v, i) => [`class_id${i + 1}`, String(v)]));
  }
  return { tags: values.join(',') };
}

test('the table covers every AipImageSearch method', () => {
  const own = Object.getOwnPropertyNames(AipImageSearch.prototype).filter(
    (name) => !['constructor', 'commonImpl'].includes(name),
  );
  const covered = SERVICES.flatMap((service) => Object.values(methods(service)));
  assert.deepEqual([...own].sort(), [...covered].sort());
  assert.equal(own.length, 50);
});

// ------------------------------------------------------------------ every method, one mode

async function usablePhotos(one, offset, count) {
  // Photos with too little texture for a service (216203) are legitimately refused.
  const out = [];
  for (let i = 0; out.length < count && i < PHOTOS.length; i++) {
    const photo = PHOTOS[(offset + i) % PHOTOS.length];
    if ((await one.search(photo)).error_code !== 216203) out.push(photo);
  }
  assert.equal(out.length, count, 'not enough usable photos');
  return out;
}

async function everyMethod(sdk, service, mode) {
  const one = new Service(sdk, service);
  const offset = SERVICES.indexOf(service) * 4 + (mode === 'signing' ? 20 : 0);
  const [a, b, c, d] = await usablePhotos(one, offset, 4);
  const urlB = url(`${mode}-${service}-b.jpg`, b);
  sent.length = 0;

  // add: by image and by url; the cont_sign is the engine's derivation (baidu-wire §5.8).
  isAdded(await one.add(a, 'brief a', labels(service, 1, 2)), a);
  isAdded(await one.addUrl(urlB, '{"name":"周杰伦","id":"666"}', labels(service, 3)), b);
  isError(await one.add(a, 'again'), 216681, 'item exist');

  // search: by image and by url; the exact copy first with score 1.0.
  for (const found of [await one.search(a), await one.searchUrl(url(`${mode}-${service}-a.jpg`, a))]) {
    const hits = isSearch(found);
    assert.ok(hits.length >= 1);
    assert.deepEqual(hits[0], { cont_sign: contSign(a), score: 1.0, brief: 'brief a' });
  }
  const narrowed = isSearch(await one.search(b, { pn: 0, rn: 1, ...labels(service, 3) }));
  assert.deepEqual(narrowed, [{ cont_sign: contSign(b), score: 1.0, brief: '{"name":"周杰伦","id":"666"}' }]);
  assert.deepEqual(isSearch(await one.search(a, labels(service, 9))), []);

  // update: by image, by url and by cont_sign.
  isOk(await one.update(a, 'brief a2'));
  isOk(await one.updateUrl(urlB, 'brief b2'));
  isOk(await one.updateSign(contSign(a), 'brief a3', labels(service, 4)));
  const hit = isSearch(await one.search(a, labels(service, 4)))[0];
  assert.deepEqual([hit.cont_sign, hit.brief], [contSign(a), 'brief a3']);
  isError(await one.updateSign('1,2', 'x'), 216680, 'item not exist');

  // delete: by image, by url and a batch by cont_sign with a missing member.
  isAdded(await one.add(c, 'brief c'), c);
  isAdded(await one.add(d, 'brief d'), d);
  isOk(await one.deleteImage(a));
  isOk(await one.deleteUrl(urlB));
  isOk(await one.deleteSign(`${contSign(c)};1,2;${contSign(d)}`));
  isError(await one.deleteSign(contSign(c)), 216680, 'item not exist');
  for (const photo of [a, b, c, d]) {
    assert.deepEqual(isSearch(await one.search(photo)), []);
  }
  // The mode really is the one under test, for every call.
  assert.deepEqual(new Set(sent), new Set([mode === 'signing' ? 'signature' : 'token']));
}

if (MODE === 'token' || MODE === 'signing') {
  for (const service of SERVICES) {
    test(`every method of ${service} (${MODE})`, async () => {
      await everyMethod(client(MODE), service, MODE);
    });
  }
}

// ------------------------------------------------------------------ signing without the setting

if (MODE === 'signing-refused') {
  test('signatures over aip.baidubce.com are refused without the operator setting', async () => {
    const sdk = client('signing');
    for (const service of SERVICES) {
      isError(await new Service(sdk, service).search(PHOTOS[0]), 14, 'IAM Certification failed');
    }
    assert.deepEqual(new Set(sent), new Set(['signature']));
  });
}

// ------------------------------------------------------------------ errors through the SDK

function sample(name) {
  return b64(fs.readFileSync(path.join(process.env.TUKU_SAMPLES, name)));
}

if (MODE === 'token') {
  test('parameter errors', async () => {
    const sdk = client('errors');
    const photo = b64(PHOTOS[PHOTOS.length - 1]);
    const cases = [
      [() => sdk.similarAdd(photo, {}), 216101, 'not enough param'],
      [() => sdk.similarSearch(''), 216200, 'empty image'],
      [() => sdk.similarAdd(photo, { brief: 'x'.repeat(257) }), 216100, 'brief too long'],
      [() => sdk.sameHqAdd(photo, 'x', { tags: '1,2,3' }), 216100, 'invalid param'],
      [() => sdk.similarSearch(photo, { tag_logic: 2 }), 216100, 'invalid param'],
      [() => sdk.productSearch(photo, { class_id1: 0 }), 216100, 'invalid param'],
      [() => sdk.similarSearch(photo, { pn: 1000 }), 216100, 'invalid param'],
      [() => sdk.similarSearch(photo, { rn: 0 }), 216100, 'invalid param'],
      [() => sdk.similarUpdateContSign('1,2;3,4', { brief: 'x' }), 216100, 'invalid param'],
      [
        () => sdk.similarDeleteBySign(Array.from({ length: 101 }, (_, i) => `${i},${i}`).join(';')),
        282006,
        'batch task limit reached',
      ],
      [() => sdk.similarSearch(b64(Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(100)]))), 216201, 'image format error'],
      [() => sdk.similarSearch(`data:image/png;base64,${photo}`), 216201, 'image format error'],
      [
        () => sdk.similarSearch(b64(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(3 * 2 ** 20)]))),
        216202,
        'image size error',
      ],
      [() => sdk.productSearch(sample('small.png')), 216202, 'image size error'],
      [() => sdk.similarAdd(sample('flat.png'), { brief: 'flat' }), 216203, 'input image cannot handle'],
      [() => sdk.similarSearch(sample('flat.png')), 216203, 'input image cannot handle'],
      [() => sdk.similarSearchUrl(''), 282114, 'url size error'],
      [() => sdk.similarSearchUrl(`http://x/${'a'.repeat(1020)}`), 282114, 'url size error'],
      [() => sdk.similarSearchUrl('ftp://example.com/a.jpg'), 282111, 'url format illegal'],
      [() => sdk.similarSearchUrl(`${imageBase}/missing`), 282113, 'url response invalid'],
      [() => sdk.similarDeleteByImage(photo), 216680, 'item not exist'],
    ];
    for (const [call, code, msg] of cases) {
      const body = await call();
      assert.equal(body.error_code, code, `${call}: ${JSON.stringify(body)}`);
      isError(body, code, msg);
    }
  });

  test('service not enabled (6) and library missing (216017)', async () => {
    const sdk = client('partial');
    isError(await sdk.sameHqSearch(b64(PHOTOS[0])), 6, 'No permission to access data');
    isError(await sdk.productSearch(b64(PHOTOS[0])), 216017, 'not initialized');
  });

  test('QPS limit (18)', async () => {
    const sdk = client('qps');
    isError(await sdk.similarDeleteBySign('1,2'), 216680, 'item not exist');
    isError(await sdk.similarDeleteBySign('1,2'), 18, 'Open api qps request limit reached');
  });

  test('capacity limit (19)', async () => {
    const sdk = client('capacity');
    isAdded(await sdk.similarAdd(b64(PHOTOS[0]), { brief: 'one' }), PHOTOS[0]);
    isError(await sdk.similarAdd(b64(PHOTOS[1]), { brief: 'two' }), 19, 'Open api total request limit reached');
  });

  test('a wrong secret falls back to signing and gets 14', async () => {
    const sdk = client('errors', '0'.repeat(32));
    sent.length = 0;
    isError(await sdk.similarSearch(b64(PHOTOS[0])), 14, 'IAM Certification failed');
    assert.deepEqual(sent, ['signature']);
  });

  test('a token set by hand: unknown is 110, expired is 111, valid works', async () => {
    const sdk = client('errors');
    sdk.setAccessToken('24.unknown');
    isError(await sdk.similarSearch(b64(PHOTOS[0])), 110, 'Access token invalid or no longer valid');
    sdk.setAccessToken(APPS.expired_token);
    isError(await sdk.similarSearch(b64(PHOTOS[0])), 111, 'Access token expired');
    sdk.setAccessToken(APPS.valid_token);
    isSearch(await sdk.similarSearch(b64(PHOTOS[0])));
  });
}
