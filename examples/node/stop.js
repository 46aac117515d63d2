// Stop instances, or a command execution, through stopgate from Node.js.
//
//   node stop.js GATEWAY instances PROVIDER REGION ID...
//   node stop.js GATEWAY execution PROVIDER REGION EXECUTION_ID [INSTANCE...]
//
// PROVIDER is alibaba or tencent. The .proto files are loaded at run time from ../../proto,
// so nothing is generated. Prints one line per instance, then the summary.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [gateway, what, provider, region, ...rest] = process.argv.slice(2);
if (!gateway || !['instances', 'execution'].includes(what) || !provider || !region || rest.length === 0) {
  console.error('usage: node stop.js GATEWAY instances|execution alibaba|tencent REGION ID...');
  process.exit(2);
}

const definition = protoLoader.loadSync(
  ['stopgate/v1/instance_service.proto', 'stopgate/v1/command_service.proto'],
  { includeDirs: [path.join(__dirname, '..', '..', 'proto')], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
);
const stopgate = grpc.loadPackageDefinition(definition).stopgate.v1;
const credentials = grpc.credentials.createInsecure();
const common = { provider: `PROVIDER_${provider.toUpperCase()}`, region };

let call;
if (what === 'instances') {
  const client = new stopgate.InstanceService(gateway, credentials);
  call = client.StopInstances({ ...common, instance_ids: rest });
} else {
  const client = new stopgate.CommandService(gateway, credentials);
  call = client.StopCommandExecution({ ...common, execution_id: rest[0], instance_ids: rest.slice(1) });
}

let failed = false;
call.on('data', (message) => {
  if (message.result) {
    const r = message.result;
    const why = r.error ? ` ${r.error.message}` : '';
    failed = failed || r.outcome.endsWith('_FAILED');
    console.log(`${r.instance_id} ${r.outcome} ${r.vendor_state}${why}`);
  } else if (message.summary) {
    console.log(`summary ${JSON.stringify(message.summary.outcome_counts)} vendor_calls=${message.summary.vendor_calls}`);
  }
});
// grpc-js reports codes as numbers; print the name, as the other clients do.
const codeName = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));
call.on('error', (error) => {
  console.error(`stopgate: ${codeName[error.code] ?? error.code} ${error.details}`);
  process.exit(2);
});
call.on('end', () => process.exit(failed ? 1 : 0));
