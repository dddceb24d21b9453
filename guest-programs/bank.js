// A bank: POST /transfer {from, to, amount} moves money between accounts persisted in bank.json,
// refusing overdrafts (409); GET /accounts shows balances, GET /total must never change.
// Shows an invariant that must hold across record, replay and failover.
const OPENING_BALANCE = 1000;
const NAMES = ['alice', 'bob', 'carol', 'dave'];
let accounts = {};
let transfers = 0;
let loading = null;

function load() {
  loading ??= fs.readFile('bank.json').then(
    (text) => { ({ accounts, transfers } = JSON.parse(text)); },
    () => {
      accounts = {};
      for (const name of NAMES) accounts[name] = OPENING_BALANCE;
      transfers = 0;
    },
  );
  return loading;
}

function total() {
  return Object.values(accounts).reduce((sum, balance) => sum + balance, 0);
}

function parseTransfer(body) {
  let t;
  try { t = JSON.parse(body); } catch { return 'body is not JSON'; }
  if (!t || !Object.hasOwn(accounts, t.from) || !Object.hasOwn(accounts, t.to)) return 'unknown account';
  if (t.from === t.to) return 'from and to are the same account';
  if (!Number.isInteger(t.amount) || t.amount <= 0) return 'amount must be a whole number > 0';
  return t;
}

export default {
  async fetch(request) {
    await load();
    if (request.method === 'POST' && request.path === '/transfer') {
      const t = parseTransfer(request.body);
      if (typeof t === 'string') return { status: 400, body: { error: 'bad_transfer', message: t } };
      if (accounts[t.from] < t.amount) {
        return { status: 409, body: { error: 'insufficient_funds', from: t.from, balance: accounts[t.from], amount: t.amount } };
      }
      // Both balances change in the same synchronous step: no other event can see half a transfer.
      accounts[t.from] -= t.amount;
      accounts[t.to] += t.amount;
      transfers += 1;
      const receipt = { id: transfers, ...t, at: new Date().toISOString() };
      await fs.writeFile('bank.json', JSON.stringify({ accounts, transfers }));
      return { body: receipt };
    }
    if (request.method === 'GET' && request.path === '/accounts') return { body: { accounts, transfers } };
    if (request.method === 'GET' && request.path === '/total') return { body: { total: total() } };
    return { status: 404, body: { error: 'not_found' } };
  },
};
