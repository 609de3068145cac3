import { describe, expect, it } from 'vitest';
import { driftFromDryRun } from '../src/drift.ts';

describe('driftFromDryRun', () => {
  it('reads what rsync would do to the target as what changed there', () => {
    const output = [
      'sending incremental file list',
      '>f+++++++++ www/gone.txt',
      '*deleting   www/added.php',
      '>fc.t...... www/edited.html',
      '.f...p..... www/script.sh',
      '.f..t...... www/touched.txt',
      'cLc.t...... www/link',
      '.d..t...... www/',
      '*deleting   www/newdir/',
      '*deleting   www/newdir/x',
      '',
      'Number of files: 10',
    ].join('\n');
    expect(driftFromDryRun(output)).toEqual([
      { path: 'www/added.php', change: 'ADDED' },
      { path: 'www/edited.html', change: 'MODIFIED' },
      { path: 'www/gone.txt', change: 'DELETED' },
      { path: 'www/link', change: 'MODIFIED' },
      { path: 'www/newdir/x', change: 'ADDED' },
      { path: 'www/script.sh', change: 'MODIFIED' },
    ]);
  });

  it('names a path whose type changed as MODIFIED, with what the target holds beneath it', () => {
    // The release has a file where the target has a directory, and a directory where the target has a file.
    const output = [
      '*deleting   www/was-file/inside',
      '*deleting   www/was-file/',
      '>f+++++++++ www/was-file',
      '*deleting   www/was-dir',
      'cd+++++++++ www/was-dir/',
      '>f+++++++++ www/was-dir/a',
    ].join('\n');
    expect(driftFromDryRun(output)).toEqual([
      { path: 'www/was-dir', change: 'MODIFIED' },
      { path: 'www/was-dir/a', change: 'DELETED' },
      { path: 'www/was-file', change: 'MODIFIED' },
      { path: 'www/was-file/inside', change: 'ADDED' },
    ]);
  });
});
