// test/reporter.cjs — mocha's spec reporter plus the plain closing line CI reads:
// "N passed, N failed". Pending tests are counted as failed: a skipped privileged
// test must fail the run.
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class CtnetReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? {};
      const failed = (s.failures ?? 0) + (s.pending ?? 0);
      process.stdout.write(`\n${s.passes ?? 0} passed, ${failed} failed\n`);
    });
  }
}
module.exports = CtnetReporter;
