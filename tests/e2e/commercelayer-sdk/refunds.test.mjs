// The Commerce Layer JavaScript SDK, unmodified, against the refunds service.
//
// The SDK builds `https://<organization>.<domain>/api/...`. The only thing this test changes is
// where those requests go: a custom `fetch` (the SDK's `fetch` option) rewrites that origin to the
// locally started service and passes method, path, query string, headers and body through as they
// are. Every request is recorded; a failing test prints the requests it made.
//
// Environment (set by run.sh): CL_E2E_BASE_URL (http://127.0.0.1:<port>), CL_E2E_TOKEN (a valid
// integration token for `acme`), CL_E2E_EXPIRED_TOKEN (the same, expired).

import assert from 'node:assert/strict'
import { describe, it, before } from 'node:test'
import { CommerceLayer } from '@commercelayer/sdk/bundle'

const BASE_URL = required('CL_E2E_BASE_URL').replace(/\/+$/, '')
const TOKEN = required('CL_E2E_TOKEN')
const EXPIRED_TOKEN = required('CL_E2E_EXPIRED_TOKEN')

const ORGANIZATION = 'acme'
const DOMAIN = 'commercelayer.io'
const SDK_ORIGIN = `https://${ORGANIZATION}.${DOMAIN}`

function required (name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run tests/e2e/commercelayer-sdk/run.sh`)
  return value
}

/** Every request the SDK made, in order. */
const requests = []

/** The SDK's `fetch`: same request, other origin. Anything not aimed at the SDK's base URL fails. */
async function localFetch (input, init = {}) {
  const sdkUrl = new URL(input instanceof Request ? input.url : String(input))
  if (sdkUrl.origin !== SDK_ORIGIN || !sdkUrl.pathname.startsWith('/api/')) {
    throw new Error(`unexpected request to ${sdkUrl}`)
  }
  // pathname and search exactly as the SDK encoded them (brackets and commas percent-encoded).
  const url = `${BASE_URL}${sdkUrl.pathname}${sdkUrl.search}`
  const entry = { method: init.method ?? 'GET', url, headers: { ...init.headers }, body: init.body }
  requests.push(entry)
  if (process.env.CL_E2E_LOG_REQUESTS) console.error(`${entry.method} ${url}${init.body ? ` ${init.body}` : ''}`)
  const response = await fetch(url, init)
  entry.status = response.status
  if (!response.ok) entry.response = await response.clone().text()
  return response
}

function client (options = {}) {
  return CommerceLayer({
    organization: ORGANIZATION,
    domain: DOMAIN,
    accessToken: TOKEN,
    fetch: localFetch,
    ...options
  })
}

/** Runs `fn`; when it fails, prints the requests it made (method, URL, body, answer). */
function step (name, fn) {
  return it(name, async () => {
    const from = requests.length
    try {
      await fn()
    } catch (err) {
      for (const r of requests.slice(from)) {
        console.error(`${r.method} ${r.url} -> ${r.status ?? 'no answer'}`)
        console.error(`  content-type: ${r.headers['Content-Type'] ?? '-'}`)
        if (r.body) console.error(`  body: ${r.body}`)
        if (r.response) console.error(`  answer: ${r.response}`)
      }
      throw err
    }
  })
}

/** The requests made since `from`. */
const since = (from) => requests.slice(from)

/** The ids of a list, as a plain array. */
const ids = (list) => Array.from(list, (r) => r.id)

const EUR_OVER_10 = { currency_code_eq: 'EUR', amount_cents_gt: 1000 }

describe('@commercelayer/sdk against the refunds service', () => {
  const cl = client()
  /** All EUR refunds over 10.00, largest first, as the service lists them. */
  let eurRefunds

  before(async () => {
    eurRefunds = await cl.refunds.list({
      filters: EUR_OVER_10,
      sort: { amount_cents: 'desc' },
      pageSize: 25
    })
    assert.ok(eurRefunds.length >= 5, `the seed has EUR refunds over 10.00 (got ${eurRefunds.length})`)
  })

  step('refunds.list: filters, sort, include, sparse fieldsets and paging', async () => {
    const from = requests.length
    const params = {
      filters: EUR_OVER_10,
      sort: { amount_cents: 'desc' },
      include: ['order', 'reference_capture'],
      fields: {
        refunds: ['number', 'amount_cents', 'currency_code', 'formatted_amount', 'order', 'reference_capture'],
        orders: ['number', 'currency_code'],
        captures: ['number', 'amount_cents']
      },
      pageSize: 2
    }
    const total = eurRefunds.length
    const pages = []
    for (let pageNumber = 1; pageNumber <= Math.ceil(total / 2); pageNumber++) {
      const page = await cl.refunds.list({ ...params, pageNumber })
      assert.equal(page.meta.recordCount, total)
      assert.equal(page.meta.pageCount, Math.ceil(total / 2))
      assert.equal(page.hasNextPage(), pageNumber < page.meta.pageCount)
      assert.ok(page.length >= 1 && page.length <= 2)
      pages.push(...page)
    }
    // The pages together are the whole filtered list, in its order, without repeats.
    assert.deepEqual(ids(pages), ids(eurRefunds))
    for (const [i, r] of pages.entries()) {
      assert.equal(r.type, 'refunds')
      assert.equal(r.currency_code, 'EUR')
      assert.ok(r.amount_cents > 1000)
      if (i > 0) assert.ok(pages[i - 1].amount_cents >= r.amount_cents, 'sorted by amount_cents desc')
      assert.match(r.formatted_amount, /€/)
      // Sparse fieldsets: only what was asked for.
      assert.equal(r.created_at, undefined)
      assert.equal(r.metadata, undefined)
      // Included and denormalized by the SDK.
      assert.equal(r.order.type, 'orders')
      assert.equal(r.order.currency_code, 'EUR')
      assert.ok(r.number.startsWith(`${r.order.number}/T/`), `${r.number} belongs to order ${r.order.number}`)
      assert.equal(r.order.customer_email, undefined)
      assert.equal(r.reference_capture.type, 'captures')
      assert.equal(typeof r.reference_capture.amount_cents, 'number')
      assert.ok(r.reference_capture.amount_cents >= r.amount_cents)
    }
    // A page past the last is empty.
    const beyond = await cl.refunds.list({ ...params, pageNumber: 99 })
    assert.equal(beyond.length, 0)
    assert.equal(beyond.meta.recordCount, total)

    // The SDK's habits reached the service: percent-encoded brackets and commas, the JSON:API
    // media type as Content-Type on a GET.
    const first = since(from)[0]
    assert.equal(first.method, 'GET')
    assert.match(first.url, /filter%5Bq%5D%5Bcurrency_code_eq%5D=EUR/)
    assert.match(first.url, /include=order%2Creference_capture/)
    assert.match(first.url, /page%5Bnumber%5D=1/)
    assert.equal(first.headers['Content-Type'], 'application/vnd.api+json')
  })

  step('refunds.list: sort on two keys, the list filters and their typed values', async () => {
    const sorted = await cl.refunds.list({ sort: ['-created_at', 'number'], pageSize: 25 })
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i - 1].created_at >= sorted[i].created_at, 'sorted by created_at desc')
    }
    const numbers = Array.from(eurRefunds.slice(0, 3), (r) => r.number)
    const some = await cl.refunds.list({ filters: { number_in: numbers, succeeded_true: true } })
    const expected = ids(eurRefunds.filter((r) => numbers.includes(r.number) && r.succeeded))
    assert.deepEqual(ids(some).sort(), expected.sort())
  })

  step('refunds.count', async () => {
    assert.equal(await cl.refunds.count(EUR_OVER_10), eurRefunds.length)
    assert.equal(await cl.refunds.count({ filters: EUR_OVER_10 }), eurRefunds.length)
    const all = await cl.refunds.count()
    assert.ok(all > eurRefunds.length)
  })

  step('refunds.retrieve, with include and sparse fieldsets', async () => {
    const id = eurRefunds[0].id
    const refund = await cl.refunds.retrieve(id)
    assert.equal(refund.id, id)
    assert.equal(refund.type, 'refunds')
    assert.equal(refund.amount_cents, eurRefunds[0].amount_cents)
    assert.equal(refund.amount_float, refund.amount_cents / 100)
    assert.equal(typeof refund.metadata, 'object')
    assert.match(refund.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

    const slim = await cl.refunds.retrieve(id, {
      include: ['order', 'reference_capture.authorization'],
      fields: { refunds: ['number', 'order', 'reference_capture'], orders: ['number'] }
    })
    assert.equal(slim.number, refund.number)
    assert.equal(slim.amount_cents, undefined)
    assert.ok(slim.number.startsWith(`${slim.order.number}/T/`))
    assert.equal(slim.reference_capture.type, 'captures')
    assert.equal(slim.reference_capture.authorization.type, 'authorizations')
  })

  step('relationship getters: refunds.order, refunds.reference_capture, orders.refunds, captures.refunds', async () => {
    const id = eurRefunds[0].id
    const refund = await cl.refunds.retrieve(id, { include: ['order', 'reference_capture'] })

    const order = await cl.refunds.order(id)
    assert.equal(order.type, 'orders')
    assert.equal(order.id, refund.order.id)
    assert.equal(order.currency_code, 'EUR')

    const capture = await cl.refunds.reference_capture(id, { fields: { captures: ['number', 'amount_cents'] } })
    assert.equal(capture.type, 'captures')
    assert.equal(capture.id, refund.reference_capture.id)
    assert.equal(capture.amount_cents, refund.reference_capture.amount_cents)
    assert.equal(capture.currency_code, undefined)

    // The to-many side, a paged collection.
    const ofOrder = await cl.orders.refunds(order.id, { sort: ['number'], pageSize: 25 })
    assert.ok(ids(ofOrder).includes(id))
    assert.equal(ofOrder.meta.recordCount, ofOrder.length)
    const ofCapture = await cl.captures.refunds(capture.id, { filters: { currency_code_eq: 'EUR' } })
    assert.ok(ids(ofCapture).includes(id))
  })

  step('refunds.update: reference, reference_origin and metadata', async () => {
    const from = requests.length
    const id = eurRefunds[1].id
    const reference = `ERP-${Date.now().toString(36)}`
    const updated = await cl.refunds.update({
      id,
      reference,
      reference_origin: 'sdk-e2e',
      metadata: { source: 'commercelayer-sdk', attempt: 1 }
    })
    assert.equal(updated.id, id)
    assert.equal(updated.reference, reference)
    assert.equal(updated.reference_origin, 'sdk-e2e')
    assert.deepEqual(updated.metadata, { source: 'commercelayer-sdk', attempt: 1 })

    const patch = since(from)[0]
    assert.equal(patch.method, 'PATCH')
    assert.deepEqual(JSON.parse(patch.body).data.relationships, {}, 'the SDK sends empty relationships')

    // Persisted, and findable by the new values.
    const again = await cl.refunds.retrieve(id)
    assert.equal(again.reference, reference)
    assert.deepEqual(again.metadata, { source: 'commercelayer-sdk', attempt: 1 })
    const found = await cl.refunds.list({ filters: { reference_eq: reference, metadata_jcont: { source: 'commercelayer-sdk' } } })
    assert.deepEqual(ids(found), [id])
  })

  step('ApiError: 404 RECORD_NOT_FOUND for an unknown id, 400 for a bad filter', async () => {
    const err = await cl.refunds.retrieve('xxxxxxxxxx').then(
      () => assert.fail('retrieving an unknown refund succeeded'),
      (e) => e
    )
    assert.ok(cl.isApiError(err), `an ApiError, got ${err}`)
    assert.equal(err.name, 'ApiError')
    assert.equal(err.status, 404)
    assert.equal(err.first().code, 'RECORD_NOT_FOUND')
    assert.equal(err.first().status, '404')

    const related = await cl.refunds.order('xxxxxxxxxx').catch((e) => e)
    assert.ok(cl.isApiError(related))
    assert.equal(related.first().code, 'RECORD_NOT_FOUND')

    const bad = await cl.refunds.list({ filters: { payment_method_type_eq: 'x' } }).catch((e) => e)
    assert.ok(cl.isApiError(bad))
    assert.equal(bad.status, 400)
    assert.equal(bad.first().code, 'FILTER_NOT_ALLOWED')
  })

  step('webhooks: create, list, update, _reset_circuit and delete', async () => {
    const created = await cl.webhooks.create({
      name: 'sdk-e2e',
      topic: 'refunds.create',
      callback_url: 'https://erp.example.com/hooks',
      include_resources: ['order']
    })
    assert.ok(created.id)
    assert.equal(created.topic, 'refunds.create')
    assert.deepEqual(created.include_resources, ['order'])
    assert.match(created.shared_secret, /^[0-9a-f]{64}$/)
    assert.equal(created.circuit_state, 'closed')

    const listed = await cl.webhooks.list({ filters: { name_eq: 'sdk-e2e' } })
    assert.deepEqual(ids(listed), [created.id])

    const updated = await cl.webhooks.update({ id: created.id, name: 'sdk-e2e-2', _reset_circuit: true })
    assert.equal(updated.name, 'sdk-e2e-2')
    assert.equal(updated.circuit_failure_count, 0)

    const invalid = await cl.webhooks.create({ topic: 'nope.create', callback_url: 'https://x.example.com' }).catch((e) => e)
    assert.ok(cl.isApiError(invalid))
    assert.equal(invalid.status, 422)
    assert.equal(invalid.first().code, 'VALIDATION_ERROR')

    await cl.webhooks.delete(created.id)
    const gone = await cl.webhooks.retrieve(created.id).catch((e) => e)
    assert.ok(cl.isApiError(gone))
    assert.equal(gone.status, 404)
  })

  step('an expired token: 401 INVALID_TOKEN, refreshToken called once, the call succeeds', async () => {
    const from = requests.length
    const refreshed = []
    const expiring = client({
      accessToken: EXPIRED_TOKEN,
      refreshToken: async (expiredToken) => {
        refreshed.push(expiredToken)
        return TOKEN
      }
    })
    assert.equal(await expiring.refunds.count(EUR_OVER_10), eurRefunds.length)
    assert.deepEqual(refreshed, [EXPIRED_TOKEN], 'the refresh hook ran exactly once, with the expired token')
    assert.equal(expiring.currentAccessToken, TOKEN)

    const [rejected, retried] = since(from)
    assert.equal(rejected.status, 401)
    assert.equal(JSON.parse(rejected.response).errors[0].code, 'INVALID_TOKEN')
    assert.equal(rejected.headers.Authorization, `Bearer ${EXPIRED_TOKEN}`)
    assert.equal(retried.status, 200)
    assert.equal(retried.headers.Authorization, `Bearer ${TOKEN}`)

    // The fresh token is kept: no further refresh.
    const refund = await expiring.refunds.retrieve(eurRefunds[0].id)
    assert.equal(refund.id, eurRefunds[0].id)
    assert.equal(refreshed.length, 1)
    assert.equal(since(from).length, 3)
  })
})
