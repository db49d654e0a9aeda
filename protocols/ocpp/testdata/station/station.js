// A strict OCPP station for the Go tests: ocpp-rpc (an independent
// implementation) validates every frame it sends and receives against the
// official JSON schemas of the negotiated version (strictMode).
//
// Env: OCPP_URL (ws://host:port/ocpp), OCPP_ID, OCPP_PROTO (ocpp1.6 |
// ocpp2.0.1), OCPP_PASSWORD (optional), NODE_PATH (where ocpp-rpc lives).
// Protocol on stdin/stdout, one JSON object per line:
//   in  {"seq":n,"call":"Action","params":{...}}   -> out {"seq":n,"result":{...}} | {"seq":n,"error":{"code":..,"message":..}}
//   out {"incoming":n,"method":"Action","params":{...}}  (a call from the central system)
//   in  {"reply":n,"result":{...}} | {"reply":n,"error":"Code"}
//   out {"strictFailure":{...}}  (a frame failed schema validation: the test fails)
//   out {"connected":true} | {"closed":code}
const { RPCClient, createRPCError } = require('ocpp-rpc');
const readline = require('readline');

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const pending = new Map();
let next = 0;

const cli = new RPCClient({
  endpoint: process.env.OCPP_URL,
  identity: process.env.OCPP_ID,
  protocols: [process.env.OCPP_PROTO],
  password: process.env.OCPP_PASSWORD || undefined,
  strictMode: true,
  reconnect: false,
  callTimeoutMs: 20000,
});

cli.on('strictValidationFailure', (f) => {
  out({ strictFailure: { message: f.error && f.error.message, outbound: f.outbound, isCall: f.isCall, method: f.method, params: f.params, result: f.result } });
});
cli.on('close', (e) => { out({ closed: e && e.code }); process.exit(0); });

cli.handle(({ method, params }) => new Promise((resolve, reject) => {
  const id = ++next;
  pending.set(id, { resolve, reject });
  out({ incoming: id, method, params });
}));

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  if (m.reply !== undefined) {
    const p = pending.get(m.reply);
    pending.delete(m.reply);
    if (!p) return;
    if (m.error) p.reject(createRPCError(m.error, 'test station'));
    else p.resolve(m.result);
    return;
  }
  if (m.close) { await cli.close({ code: 1000 }); return; }
  try {
    const result = await cli.call(m.call, m.params);
    out({ seq: m.seq, result });
  } catch (err) {
    out({ seq: m.seq, error: { code: err.rpcErrorCode || err.name, message: err.message, details: err.details } });
  }
});

cli.connect().then(() => out({ connected: true }), (err) => { out({ connectError: err.message }); process.exit(1); });
