// Stop instances, or a command execution, through stopgate from Node.js.
//
//   node stop.js GATEWAY instances PROVIDER REGION ID... [--request-id ID]
//   node stop.js GATEWAY select PROVIDER REGION[,REGION...]|all KEY[=VALUE]... --expect-at-most N
//                [--request-id ID]
//   node stop.js GATEWAY execution PROVIDER REGION EXECUTION_ID [INSTANCE...] [--request-id ID]
//
// PROVIDER is alibaba or tencent. The .proto files are loaded at run time from ../../proto,
// so nothing is generated. Prints the operation id, one line per instance (`ID REGION OUTCOME
// VENDOR_STATE` for instances), then the summary. Exit status: 0 all succeeded, 1 an instance
// failed (or a region could not be searched), 2 the call failed.
//
// `select` stops by tags instead of ids: every instance carrying all the tags (KEY=VALUE, or KEY
// alone for any value) in the regions listed, or in every region of the account with `all`. The
// gateway reads every region first and stops nothing anywhere when more than N instances match
// (FAILED_PRECONDITION, SELECTOR_MATCHED_TOO_MANY, with the count per region). The summary is
// followed by one line per region searched: how many matched there, or why it could not be read.
//
// Every call is an operation named by its request_id (Google AIP-155): this example sends a new
// UUID, or the ID given with --request-id. The stream's first message, OperationAccepted, names
// the operation. The operation runs to its end at the gateway even when the stream breaks, so on
// a broken stream (UNAVAILABLE, UNKNOWN, ABORTED, INTERNAL) the example sends the same request
// with the same request_id again, with backoff: that re-attaches, and the new stream replays
// every result recorded so far before the rest. Each instance is printed once. Run it again with
// --request-id ID to get the results of an operation this client did not see to its end.
'use strict';

const crypto = require('crypto');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// The stream broke (the connection or the gateway went away): worth re-attaching.
const REATTACH_ON = new Set([
  grpc.status.UNAVAILABLE, grpc.status.UNKNOWN, grpc.status.ABORTED, grpc.status.INTERNAL,
]);
const REATTACH_ATTEMPTS = 5;

const args = process.argv.slice(2);
// Removes `name VALUE` from args; returns VALUE ('' when it has none), or undefined.
function takeFlag(name) {
  const at = args.indexOf(name);
  if (at === -1) return undefined;
  const value = args[at + 1] ?? '';
  args.splice(at, 2);
  return value;
}
const requestId = takeFlag('--request-id') ?? crypto.randomUUID();
const expectAtMost = takeFlag('--expect-at-most');
const [gateway, what, provider, region, ...rest] = args;
if (!gateway || !['instances', 'select', 'execution'].includes(what) || !provider || !region
    || rest.length === 0 || !requestId || (what === 'select') !== (expectAtMost !== undefined)
    || (expectAtMost !== undefined && !/^[0-9]+$/.test(expectAtMost))) {
  console.error('usage: node stop.js GATEWAY instances|execution alibaba|tencent REGION ID... [--request-id ID]\n'
    + '       node stop.js GATEWAY select alibaba|tencent REGION[,REGION...]|all KEY[=VALUE]... --expect-at-most N [--request-id ID]');
  process.exit(2);
}

// The InstanceSelector of `select`: tags KEY=VALUE or KEY (any value), regions "A,B" or "all",
// and the most instances expected to match.
function selector(regions, tags, most) {
  const everywhere = regions === 'all';
  return {
    // An unset value means "any value": leave the optional field out.
    tags: tags.map((tag) => {
      const at = tag.indexOf('=');
      return at === -1 ? { key: tag } : { key: tag.slice(0, at), value: tag.slice(at + 1) };
    }),
    regions: everywhere ? [] : regions.split(','),
    all_regions: everywhere,
    expect_at_most: Number(most),
  };
}

const definition = protoLoader.loadSync(
  ['stopgate/v1/instance_service.proto', 'stopgate/v1/command_service.proto'],
  { includeDirs: [path.join(__dirname, '..', '..', 'proto')], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
);
const stopgate = grpc.loadPackageDefinition(definition).stopgate.v1;
const credentials = grpc.credentials.createInsecure();
const common = { provider: `PROVIDER_${provider.toUpperCase()}`, request_id: requestId };

// The same request, the same request_id: the first time it starts the operation, later it
// re-attaches to it.
let open;
if (what === 'instances') {
  const client = new stopgate.InstanceService(gateway, credentials);
  open = () => client.StopInstances({ ...common, region, instance_ids: rest });
} else if (what === 'select') {
  const client = new stopgate.InstanceService(gateway, credentials);
  open = () => client.StopInstances({ ...common, selector: selector(region, rest, expectAtMost) });
} else {
  const client = new stopgate.CommandService(gateway, credentials);
  open = () => client.StopCommandExecution({ ...common, region, execution_id: rest[0], instance_ids: rest.slice(1) });
}

// grpc-js reports codes as numbers; print the name, as the other clients do.
const codeName = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));
const printed = new Set(); // instances already printed: a re-attached stream replays them
let failed = false;
let summary = null;

function attach(attempt) {
  const call = open();
  let broke = false;
  call.on('data', (message) => {
    if (message.accepted) {
      const a = message.accepted;
      console.log(a.reattached
        ? `re-attached to operation ${a.request_id} (${a.recorded} result(s) recorded so far)`
        : `operation ${a.request_id}`);
    } else if (message.result && !printed.has(message.result.instance_id)) {
      const r = message.result;
      printed.add(r.instance_id);
      const why = r.error ? ` ${r.error.message}` : '';
      failed = failed || r.outcome.endsWith('_FAILED');
      // Instances carry their region; a command's tasks do not.
      const where = what === 'execution' ? '' : ` ${r.region}`;
      console.log(`${r.instance_id}${where} ${r.outcome} ${r.vendor_state}${why}`);
    } else if (message.summary) {
      summary = message.summary;
    }
  });
  call.on('error', (error) => {
    broke = true; // grpc-js may still emit 'end' after an error: that end is not the operation's
    const name = codeName[error.code] ?? error.code;
    if (REATTACH_ON.has(error.code) && attempt < REATTACH_ATTEMPTS) {
      const pause = 500 * 2 ** attempt;
      console.error(`stopgate: the stream broke (${name}); re-attaching to operation ${requestId} in ${pause / 1000} s`);
      setTimeout(() => attach(attempt + 1), pause);
      return;
    }
    console.error(`stopgate: ${name} ${error.details}`);
    if (REATTACH_ON.has(error.code)) {
      console.error(`the operation goes on at the gateway: run again with --request-id ${requestId} to get every result`);
    }
    process.exit(2);
  });
  call.on('end', () => {
    if (broke) return;
    if (summary) {
      console.log(`summary ${JSON.stringify(summary.outcome_counts)} vendor_calls=${summary.vendor_calls}`);
      // A selector's regions, in the order searched: a region that could not be read (not
      // allowed for the account, a vendor error) had nothing stopped.
      for (const r of summary.regions) {
        if (r.error) {
          failed = true;
          console.log(`region ${r.region} error=${r.error.message}`);
        } else {
          console.log(`region ${r.region} matched=${r.matched}`);
        }
      }
    }
    process.exit(failed ? 1 : 0);
  });
}

attach(0);
