#!/usr/bin/env node
// Checks Cypher statements with Neo4j's own parser and semantic analysis
// (@neo4j-cypher/language-support, the library behind the Neo4j VS Code extension).
//
// stdin:  {"statements": [[name, cypher], ...], "labels": [...], "relationshipTypes": [...],
//          "parameters": [...names], "versions": ["CYPHER 5", ...]}
// stdout: a JSON array of diagnostics {name, version, severity, message, line, column, excerpt};
//         severity is "error", "warning", "information" or "hint". Exit 0 whenever the input was
//         read and linted: the caller decides what fails (tests/test_cypher_lint.py).
//
// The semantic analysis takes ~0.1 s a statement, so the statements are shared out to worker
// threads, one per CPU (at most 8).
'use strict';

const os = require('node:os');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const SEVERITIES = { 1: 'error', 2: 'warning', 3: 'information', 4: 'hint' };

function lint(input, statements) {
  const { lintCypherQuery } = require('@neo4j-cypher/language-support');
  const parameters = Object.fromEntries((input.parameters || []).map((name) => [name, null]));
  const diagnostics = [];
  for (const version of input.versions || ['CYPHER 5']) {
    // With labels and types declared, a name outside the whitelist is a warning; with parameters
    // declared, an unknown $parameter is an error.
    const schema = {
      labels: input.labels || [],
      relationshipTypes: input.relationshipTypes || [],
      parameters,
      defaultLanguage: version,
    };
    for (const [name, cypher] of statements) {
      for (const d of lintCypherQuery(cypher, schema)) {
        diagnostics.push({
          name,
          version,
          severity: SEVERITIES[d.severity] || String(d.severity),
          message: d.message,
          line: d.range.start.line + 1,
          column: d.range.start.character + 1,
          excerpt: cypher.slice(d.offsets.start, d.offsets.end),
        });
      }
    }
  }
  return diagnostics;
}

function lintInWorkers(input) {
  const count = Math.max(1, Math.min(8, os.availableParallelism?.() ?? os.cpus().length, input.statements.length));
  const shards = Array.from({ length: count }, (_, i) => input.statements.filter((_, j) => j % count === i));
  return Promise.all(shards.map((statements) => new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: { input, statements } });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`lint worker exited with ${code}`)));
  }))).then((results) => results.flat());
}

if (!isMainThread) {
  parentPort.postMessage(lint(workerData.input, workerData.statements));
} else {
  const chunks = [];
  process.stdin.on('data', (chunk) => chunks.push(chunk));
  process.stdin.on('end', () => {
    let input;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      process.stderr.write(`lint.cjs: stdin is not JSON: ${error.message}\n`);
      process.exit(2);
    }
    lintInWorkers(input).then(
      (diagnostics) => process.stdout.write(JSON.stringify(diagnostics) + '\n'),
      (error) => {
        process.stderr.write(`lint.cjs: ${error.stack || error}\n`);
        process.exit(1);
      },
    );
  });
}
