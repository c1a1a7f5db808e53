import { PassThrough } from 'node:stream';
import { chainIds } from '@ts-container/image';
import type { LayerSink } from '@ts-container/registry';
import type { Snapshotter } from '@ts-container/unionfs';
import { invalidParameter } from './errors.js';

/**
 * Unpacks the layers of one pull while they download, side by side: each layer's bytes go
 * into its own parentless snapshot as they arrive, which is committed on its parent once the
 * blob's digest verified and the layer below is in place. Nothing is committed from a blob
 * that did not verify. A layer whose streaming fails for any reason (a resumed download, a
 * layer below that was not streamed, a bad archive) is simply not there afterwards, and
 * `ImageService.ensureLayers` unpacks it from the verified content store, the slow way.
 */
export class StreamedLayers {
  private readonly unpacks = new Map<number, Promise<boolean>>();
  /** Why layers fell back to the slow way, for the daemon log. */
  readonly fallbacks: string[] = [];

  constructor(private readonly snapshotter: Snapshotter) {}

  sinkFor(index: number, diffIds: readonly string[]): LayerSink {
    const chain = chainIds([...diffIds]);
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    let verified!: () => void;
    let failed!: (err: Error) => void;
    const blobVerified = new Promise<void>((resolve, reject) => {
      verified = resolve;
      failed = reject;
    });
    // Observed through `parent` below; when the unpack already failed nobody else awaits it.
    blobVerified.catch(() => undefined);
    const parent = async (): Promise<string | undefined> => {
      await blobVerified;
      if (index === 0) return undefined;
      const below = this.unpacks.get(index - 1);
      const ready = below ? await below : this.snapshotter.has(chain[index - 1]!);
      if (!ready) throw new Error(`layer ${index} waits for layer ${index - 1}, which was not streamed`);
      return chain[index - 1];
    };
    let settled = false;
    const unpack = this.snapshotter
      .unpackLayer(parent, body, (result) => {
        if (result.diffId !== diffIds[index])
          throw invalidParameter(`layer ${diffIds[index]}: unpacked content has DiffID ${result.diffId}`);
        return chain[index]!;
      })
      .then(
        () => true,
        (err: Error) => {
          this.fallbacks.push(`layer ${diffIds[index]}: ${err.message}`);
          return false;
        },
      )
      .finally(() => {
        settled = true;
      });
    this.unpacks.set(index, unpack);
    return {
      async write(chunk) {
        // An unpack that gave up no longer reads: the download goes on without it.
        if (settled || body.destroyed) return;
        if (!body.write(chunk)) await Promise.race([new Promise((r) => body.once('drain', r)), unpack]);
      },
      end() {
        verified();
        body.end();
      },
      abort(err) {
        failed(err);
        // Without the error: once the unpack gave up nothing listens for one on `body`.
        body.destroy();
      },
    };
  }

  /** Waits until every streamed layer is committed or given up. */
  async settle(): Promise<void> {
    await Promise.all(this.unpacks.values());
  }
}
