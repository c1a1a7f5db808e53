import { BUILDKIT_NOTE, buildKitRounds, clientFloors, floorsNote } from './buildkit-rounds.mjs';
// Build workloads beyond the suite's small Dockerfile: a two-stage build whose context holds
// 5,000 small files, cold (`--no-cache`) and warm (every step cached), through the docker CLI
// against tsctrd, Docker's classic builder and Docker with BuildKit, in the same run.
import { classicBuilder, coldAndCachedRounds, ensureBusybox, rmi } from './common.mjs';
import { TREE_FILES, treeBuildContext } from './fixtures.mjs';

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
        const { cold, cached } = await coldAndCachedRounds(ctx, engines, build);
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
        // Docker with BuildKit through Debian's docker CLI 20.10, ours through the same CLI.
        const bk = await buildKitRounds(ctx, { context, tag: 'bench-tree:latest' });
        if (bk) {
          const floors = await clientFloors(ctx, context);
          const bkNote = [
            note.replace('; both docker CLI columns: DOCKER_BUILDKIT=0', ''),
            BUILDKIT_NOTE,
            floorsNote(floors),
          ]
            .filter(Boolean)
            .join('; ');
          rows.push(
            {
              id: 'build-tree-cold-buildkit',
              title: '`build --no-cache` (cold), 5,000-file context, Docker with BuildKit',
              unit: 'ms',
              note: bkNote,
              results: bk.cold,
            },
            {
              id: 'build-tree-cached-buildkit',
              title: '`build` again (cached), 5,000-file context, Docker with BuildKit',
              unit: 'ms',
              note: bkNote,
              results: bk.cached,
            },
          );
        }
        return rows;
      },
    },
  ];
}
