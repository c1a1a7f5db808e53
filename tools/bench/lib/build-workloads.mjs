// Build workloads beyond the suite's small Dockerfile: a two-stage build whose context holds
// 5,000 small files, cold (`--no-cache`) and warm (every step cached), through the docker CLI
// against tsctrd, Docker's classic builder and Docker with BuildKit, in the same run.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { classicBuilder, ensureBusybox, rmi, rounds } from './common.mjs';
import { run } from './proc.mjs';

export const TREE_FILES = 5000;
const TREE_DIRS = 50;

/**
 * The context: `tree/dNN/fNNN` (5,000 files of ~100 bytes in 50 directories) and a Dockerfile
 * that copies the tree, writes 200 files, tars both, and copies the archive into a second stage.
 */
export async function treeBuildContext(root, files = TREE_FILES) {
  const dir = join(root, `build-tree-${files}`);
  const perDir = Math.ceil(files / TREE_DIRS);
  for (let d = 0; d < TREE_DIRS; d++) {
    const sub = join(dir, 'tree', `d${String(d).padStart(2, '0')}`);
    await mkdir(sub, { recursive: true });
    const writes = [];
    for (let f = 0; f < perDir && d * perDir + f < files; f++) {
      const name = `f${String(f).padStart(3, '0')}`;
      writes.push(writeFile(join(sub, name), `${d}/${name} ${'x'.repeat(90)}\n`));
    }
    await Promise.all(writes);
  }
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      'FROM busybox AS build',
      'COPY tree /src',
      'RUN mkdir /gen && for i in $(seq 200); do echo $i > /gen/$i; done',
      'RUN tar -cf /out.tar /src /gen',
      'FROM busybox',
      'COPY --from=build /out.tar /out.tar',
      'CMD ["tar", "-tf", "/out.tar"]',
      '',
    ].join('\n'),
  );
  return dir;
}

/** A function (hoisted), not a constant: workloads.mjs and this module import each other. */
export const WORKLOADS = buildWorkloads();

function buildWorkloads() {
  return [
    {
      id: 'build-tree',
      aliases: ['build-5k'],
      title: 'cold and cached `build` of a two-stage Dockerfile, 5,000-file context',
      async run(ctx) {
        await ensureBusybox(ctx);
        const context = await treeBuildContext(ctx.root);
        const engines = ['docker→tsctrd', 'docker'];
        const env = classicBuilder;
        const build = (e, extra) =>
          e.cli(['build', ...extra, '-t', 'bench-tree:latest', context], { env: env(e), timeoutMs: 600_000 });
        const cold = await rounds(ctx, {
          engines,
          reps: ctx.heavyReps,
          warmup: 0,
          op: async (e) => (await build(e, ['--no-cache'])).ms,
        });
        const cached = await rounds(ctx, {
          engines,
          reps: ctx.heavyReps,
          warmup: 0,
          op: async (e) => {
            if (cold[e.id]?.skipped) throw new Error(`cold build failed: ${cold[e.id].skipped}`);
            return (await build(e, [])).ms;
          },
        });
        for (const id of ['tsctr', 'docker'])
          if (ctx.engines[id]) await rmi(ctx.engines[id], ['bench-tree:latest']);
        const note = `FROM busybox AS build, COPY ${TREE_FILES} files, RUN 200 files, RUN tar; FROM busybox, COPY --from; both docker CLI columns: DOCKER_BUILDKIT=0`;
        const rows = [
          {
            id: 'build-tree-cold',
            title: '`build --no-cache` (cold), 5,000-file context',
            unit: 'ms',
            note,
            results: cold,
          },
          {
            id: 'build-tree-cached',
            title: '`build` again (cached), 5,000-file context',
            unit: 'ms',
            note,
            results: cached,
          },
        ];
        // Docker with BuildKit through Debian's docker CLI 20.10, as the `build` workload does.
        const debianCli = '/usr/bin/docker';
        const docker = ctx.engines.docker;
        if (docker && existsSync(debianCli)) {
          const buildkit = (extra) =>
            run(debianCli, ['build', ...extra, '-t', 'bench-tree:latest', context], {
              env: { ...docker.env, DOCKER_BUILDKIT: '1' },
              timeoutMs: 600_000,
            });
          const bkCold = await rounds(ctx, {
            engines: ['docker'],
            reps: ctx.heavyReps,
            warmup: 0,
            op: async () => (await buildkit(['--no-cache'])).ms,
          });
          const bkCached = await rounds(ctx, {
            engines: ['docker'],
            reps: ctx.heavyReps,
            warmup: 0,
            op: async () => (await buildkit([])).ms,
          });
          await rmi(docker, ['bench-tree:latest']);
          const bkNote = `${note.replace('; both docker CLI columns: DOCKER_BUILDKIT=0', '')}; Docker with BuildKit (DOCKER_BUILDKIT=1, Debian's docker CLI 20.10)`;
          rows.push(
            {
              id: 'build-tree-cold-buildkit',
              title: '`build --no-cache` (cold), 5,000-file context, Docker with BuildKit',
              unit: 'ms',
              note: bkNote,
              results: { 'docker→tsctrd': cold['docker→tsctrd'], docker: bkCold.docker },
            },
            {
              id: 'build-tree-cached-buildkit',
              title: '`build` again (cached), 5,000-file context, Docker with BuildKit',
              unit: 'ms',
              note: bkNote,
              results: { 'docker→tsctrd': cached['docker→tsctrd'], docker: bkCached.docker },
            },
          );
        }
        return rows;
      },
    },
  ];
}
