'use strict';
/**
 * Prints one plain closing line, "jest: N passed, N failed[, N skipped]", which CI
 * reads to count the tests that ran (Jest's own summary is not in the form it reads).
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(
      `\njest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
module.exports = SummaryReporter;
