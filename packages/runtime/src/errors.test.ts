import { describe, expect, it } from 'vitest';
import { readExecLog } from './errors.js';

describe('readExecLog', () => {
  it("splits an OCI runtime's JSON records from the terminal output crun flushed into its log", () => {
    const log = Buffer.from(
      '{"msg":"executable file `nosuch` not found in $PATH: No such file or directory","level":"error","time":"2026-12-04T20:32:22.634004Z"}\n' +
        '/dev/pts/0\r\n\n',
    );
    expect(readExecLog(log)).toEqual({
      messages: [
        { level: 'error', msg: 'executable file `nosuch` not found in $PATH: No such file or directory' },
      ],
      output: Buffer.from('/dev/pts/0\r\n'),
    });
  });

  it('undoes the newline crun adds after each 255-byte read, and keeps output that looks like JSON', () => {
    const text = `{"not":"a record"}${'x'.repeat(300)}`;
    const flushed = `${text.slice(0, 255)}\n${text.slice(255)}\n`;
    expect(readExecLog(Buffer.from(flushed))).toEqual({ messages: [], output: Buffer.from(text) });
  });

  it('is empty for an empty log', () => {
    expect(readExecLog(Buffer.alloc(0))).toEqual({ messages: [], output: Buffer.alloc(0) });
  });
});
