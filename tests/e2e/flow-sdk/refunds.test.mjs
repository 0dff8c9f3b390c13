// The Flow Commerce JavaScript SDK (@flowio/node-sdk 1.1.x), unmodified, against the refunds
// service: the only change a Flow client makes is its `host`, `<service>/flow`.
//
// Environment (set by run.sh): FLOW_E2E_BASE_URL (http://127.0.0.1:<port>), FLOW_E2E_TOKEN (an
// integration token for `acme`).

import assert from 'node:assert/strict'
import { describe, it, before } from 'node:test'
import flowSdk from '@flowio/node-sdk'

const BASE_URL = required('FLOW_E2E_BASE_URL').replace(/\/+$/, '')
const TOKEN = required('FLOW_E2E_TOKEN')
const ORGANIZATION = 'acme'

function required (name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run tests/e2e/flow-sdk/run.sh`)
  return value
}

const createClient = flowSdk.default ?? flowSdk
// The one-line change of a merchant moving off Flow.
const client = createClient({ host: `${BASE_URL}/flow`, auth: TOKEN })
const refunds = client.refunds

/** The raw text of the last answer, to check amounts as written. */
let lastBody = ''
refunds.on('response', (r) => { lastBody = r.body })

/** Reads payments to refund through the service's JSON:API (test fixtures, not under test). */
async function api (path) {
  const r = await fetch(`${BASE_URL}/api${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })
  assert.equal(r.status, 200, `${path}: ${r.status}`)
  return (await r.json()).data
}

/** Three different orders with a capture of at least 3000 minor units still refundable. */
async function payments () {
  const captures = await api('/captures?filter[q][refund_balance_cents_gteq]=3000&filter[q][succeeded_true]=1&page[size]=25&sort=created_at')
  const out = []
  for (const c of captures) {
    const order = await api(`/captures/${c.id}/order`)
    if (out.some((p) => p.orderNumber === order.attributes.number)) continue
    const authorization = await api(`/captures/${c.id}/authorization`)
    out.push({
      captureId: c.id,
      authorizationId: authorization.id,
      orderNumber: order.attributes.number,
      currency: c.attributes.currency_code
    })
    if (out.length === 3) break
  }
  assert.equal(out.length, 3, 'the seed has three orders with refundable captures')
  return out
}

/** `amount` (major units) as the currency writes it: 2 digits, or none for JPY-like ones. */
function written (amount, currency) {
  return ['JPY', 'KRW', 'CLP', 'VND', 'ISK', 'HUF'].includes(currency) ? `${amount}` : amount.toFixed(2)
}

describe('@flowio/node-sdk refunds against /flow', () => {
  let p
  const made = []
  before(async () => { p = await payments() })

  it('post: by capture, by authorization and by order number', async () => {
    const forms = [
      { capture_id: p[0].captureId, amount: 10, currency: p[0].currency, key: `e2e-cap-${Date.now()}`, attributes: { reason: 'damaged' } },
      { authorization_id: p[1].authorizationId, amount: 12, currency: p[1].currency.toLowerCase(), key: `e2e-aut-${Date.now()}` },
      { order_number: p[2].orderNumber, amount: '14', currency: p[2].currency, key: `e2e-ord-${Date.now()}`, rma_key: 'rma-7' }
    ]
    for (const body of forms) {
      const r = await refunds.post(ORGANIZATION, { body })
      assert.equal(r.status, 201, JSON.stringify(r.result))
      assert.equal(r.ok, true)
      assert.equal(r.result.key, body.key)
      assert.equal(r.result.status, 'succeeded')
      assert.ok(r.result.captures.length >= 1)
      const amount = Number(body.amount)
      assert.ok(lastBody.includes(`"amount":${written(amount, r.result.currency)},`), lastBody)
      made.push(r.result)
    }
    assert.equal(made[0].captures[0].capture.id, p[0].captureId)
    assert.equal(made[1].authorization.id, p[1].authorizationId)
    assert.equal(made[2].authorization.order.number, p[2].orderNumber)
    assert.equal(made[2].attributes.rma_key, 'rma-7')
  })

  it('post: the same key and form again is the same refund; another form is 422', async () => {
    const body = { capture_id: p[0].captureId, amount: 10, currency: p[0].currency, key: made[0].key, attributes: { reason: 'damaged' } }
    const again = await refunds.post(ORGANIZATION, { body })
    assert.equal(again.status, 201)
    assert.deepEqual(again.result, made[0])
    const other = await refunds.post(ORGANIZATION, { body: { ...body, amount: 11 } })
    assert.equal(other.status, 422)
    assert.equal(other.ok, false)
    assert.equal(other.result.code, 'generic_error')
    const tooMuch = await refunds.post(ORGANIZATION, { body: { capture_id: p[0].captureId, amount: 99999999, currency: p[0].currency } })
    assert.equal(tooMuch.status, 422)
    assert.equal(tooMuch.result.decline_code, 'insufficient_funds')
  })

  it('getByKey: the refund, and 404 for an unknown key', async () => {
    const r = await refunds.getByKey(ORGANIZATION, made[1].key)
    assert.equal(r.status, 200)
    assert.deepEqual(r.result, made[1])
    const missing = await refunds.getByKey(ORGANIZATION, 'no-such-key')
    assert.equal(missing.status, 404)
    assert.equal(missing.ok, false)
    assert.equal(missing.result, '')
  })

  it('get: filters and a paging walk that ends on a short page', async () => {
    const byKey = await refunds.get(ORGANIZATION, { params: { key: [made[0].key, made[2].key] } })
    assert.equal(byKey.status, 200)
    assert.deepEqual(byKey.result.map((r) => r.key).sort(), [made[0].key, made[2].key].sort())
    const byCapture = await refunds.get(ORGANIZATION, { params: { capture_id: p[0].captureId } })
    assert.ok(byCapture.result.some((r) => r.id === made[0].id))
    const byAuth = await refunds.get(ORGANIZATION, { params: { authorization_id: p[1].authorizationId } })
    assert.ok(byAuth.result.some((r) => r.id === made[1].id))
    const byId = await refunds.get(ORGANIZATION, { params: { id: made[2].id } })
    assert.deepEqual(byId.result, [made[2]])

    const all = await refunds.get(ORGANIZATION, { params: { limit: 100 } })
    assert.equal(all.status, 200)
    assert.ok(all.result.length > 3)
    const limit = 4
    const walked = []
    for (let offset = 0; ; offset += limit) {
      const page = await refunds.get(ORGANIZATION, { params: { limit, offset, sort: '-created_at' } })
      assert.equal(page.status, 200)
      walked.push(...page.result)
      if (page.result.length < limit) break
    }
    assert.deepEqual(walked.map((r) => r.id), all.result.slice(0, walked.length).map((r) => r.id))
    assert.equal(walked.length, all.result.length)
    const bad = await refunds.get(ORGANIZATION, { params: { limit: 0 } })
    assert.equal(bad.status, 422)
  })

  it('getSummaryByOrderNumber: the order summary, and 404 for an unknown order', async () => {
    const r = await refunds.getSummaryByOrderNumber(ORGANIZATION, p[2].orderNumber)
    assert.equal(r.status, 200)
    assert.equal(r.result.order_number, p[2].orderNumber)
    assert.equal(r.result.currency, p[2].currency)
    assert.ok(r.result.refunded >= 14)
    assert.equal(typeof r.result.amounts.balance, 'number')
    const missing = await refunds.getSummaryByOrderNumber(ORGANIZATION, 'no-such-order')
    assert.equal(missing.status, 404)
  })

  it('getVersions: the journal of a refund', async () => {
    const r = await refunds.getVersions(ORGANIZATION, { params: { refund_id: made[0].id } })
    assert.equal(r.status, 200)
    // Reserved (insert, pending), then settled by the gateway (update).
    assert.equal(r.result.length, 2)
    const insert = r.result.find((v) => v.type === 'insert')
    const settled = r.result.find((v) => v.type === 'update')
    assert.equal(insert.refund.status, 'pending')
    assert.equal(insert.refund.id, made[0].id)
    assert.deepEqual(settled.refund, made[0])
    const page = await refunds.getVersions(ORGANIZATION, { params: { limit: 2, sort: '-journal_timestamp' } })
    assert.equal(page.result.length, 2)
  })

  it('a wrong token is 401 with an empty body', async () => {
    const other = createClient({ host: `${BASE_URL}/flow`, auth: 'not-a-token' }).refunds
    const r = await other.get(ORGANIZATION)
    assert.equal(r.status, 401)
    assert.equal(r.result, '')
  })
})
