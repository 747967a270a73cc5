import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface StageLogOptions {
  s3: Pick<S3Client, 'send'>;
  bucket: string;
  /** S3 key of the log object, `runs/<run>/logs/<stage>.log`. */
  key: string;
  now: () => number;
  /** Where every line also goes as it happens (the runner's stdout, hence CloudWatch on AWS). */
  print: (line: string) => void;
  /** How often the object is rewritten while the stage runs, so a live run can be followed. */
  flushMs: number;
}

const tailLines = 50;
/** Past this the object stops growing (stdout still gets every line): a runaway loop must not exhaust memory. */
const maxStoredChars = 16 * 1024 * 1024;

/**
 * The stage's log: each line is prefixed with its offset from the start of the stage, printed at
 * once, kept for the S3 object and remembered in a short tail for the failure cause.
 */
export class StageLog {
  readonly key: string;
  private readonly options: StageLogOptions;
  private readonly startedAt: number;
  private readonly chunks: string[] = [];
  private readonly lastLines: string[] = [];
  private storedChars = 0;
  private omitted = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(options: StageLogOptions) {
    this.options = options;
    this.key = options.key;
    this.startedAt = options.now();
  }

  /** Adds one line (a trailing newline, if any, is dropped). */
  line(text: string): void {
    const offset = (this.options.now() - this.startedAt) / 1000;
    const line = `[+${offset.toFixed(1).padStart(6)}s] ${text}`;
    this.options.print(line);
    this.lastLines.push(line);
    if (this.lastLines.length > tailLines) this.lastLines.shift();
    if (this.storedChars + line.length + 1 > maxStoredChars) {
      this.omitted += 1;
    } else {
      this.chunks.push(line);
      this.storedChars += line.length + 1;
    }
    this.dirty = true;
  }

  /** The last lines, newest last. */
  tail(): string {
    return this.lastLines.join('\n');
  }

  /** Rewrites the object every `flushMs` while something new was logged. */
  startFlushing(): void {
    this.timer = setInterval(() => {
      if (this.dirty && this.flushing === undefined) this.flushing = this.put().finally(() => this.clear());
    }, this.options.flushMs);
    this.timer.unref();
  }

  /**
   * Stops the periodic flush and writes the whole log. Never throws: a log that cannot be stored
   * must not hide the stage's outcome; the problem is printed instead.
   */
  async upload(): Promise<boolean> {
    clearInterval(this.timer);
    await this.flushing;
    try {
      await this.send();
      return true;
    } catch (error) {
      this.options.print(`stepline: could not store the log at ${this.key}: ${describe(error)}`);
      return false;
    }
  }

  private async put(): Promise<void> {
    try {
      await this.send();
    } catch (error) {
      this.options.print(`stepline: could not update the log at ${this.key}: ${describe(error)}`);
    }
  }

  private clear(): void {
    this.flushing = undefined;
  }

  private async send(): Promise<void> {
    this.dirty = false;
    const note = this.omitted > 0 ? `\n[${this.omitted} more lines not stored: the log passed 16 MB]` : '';
    await this.options.s3.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.key,
        Body: `${this.chunks.join('\n')}${note}\n`,
        ContentType: 'text/plain; charset=utf-8',
      }),
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
