import org.h2.mvstore.FileStore;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.RandomAccessStore;

import java.io.File;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the store file bounded while it is written to.
 *
 * The launcher commits before every write reply, so every write command becomes a chunk of its
 * own (the changed leaf pages and their path to the root). A chunk's space is reused only once
 * none of its pages is live, but nearly every chunk keeps one: the last version of a document
 * that is then left alone (a closed ticket) stays live in whatever chunk wrote it. Such chunks
 * are reclaimed only by rewriting their live pages elsewhere (FileStore.rewriteChunks), which
 * MVStore's background housekeeping does with a small budget, and only when it gets the store
 * lock within 10 ms: with hundreds of commits a second it rarely does, so the file grew by
 * about every byte ever committed (measured: 48-52 KB per ticket under `make up`).
 *
 * Every {@code intervalMs} this thread rewrites the live pages of up to {@code writeBytes} of
 * the sparsest chunks when the chunks' fill rate is below {@code fillRate}, and commits them
 * (MVStore.compact: rewriting pages with their own content is safe beside concurrent writes;
 * it waits up to 10 ms for the store lock, else skips the round). The emptied chunks are
 * freed after the retention time (0 by default: readers are guarded by version, see
 * MongoLauncher.openStore) and their space is reused by new chunks, so the file stops growing.
 * When the file's fill rate is below {@code fillRate} too, it then moves up to {@code writeBytes}
 * of chunks into the holes and truncates the freed tail.
 */
final class StoreCompactor {
    private final MVStore store;
    private final File file;
    private final int fillRate;
    private final int writeBytes;
    private final boolean verbose;
    private long rounds;
    private long rewrites;
    private long moves;
    private long busyNanos;

    StoreCompactor(MVStore store, String file, int fillRate, int writeBytes, boolean verbose) {
        this.store = store;
        this.file = new File(file);
        this.fillRate = fillRate;
        this.writeBytes = writeBytes;
        this.verbose = verbose;
    }

    /** A daemon thread: it never holds the JVM up, and the shutdown hook closes the store. */
    ScheduledExecutorService start(long intervalMs) {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
            Thread thread = new Thread(task, "store-compactor");
            thread.setDaemon(true);
            return thread;
        });
        timer.scheduleWithFixedDelay(this::round, intervalMs, intervalMs, TimeUnit.MILLISECONDS);
        return timer;
    }

    void round() {
        if (store.isClosed()) {
            return;
        }
        long started = System.nanoTime();
        try {
            if (store.compact(fillRate, writeBytes)) {
                rewrites++;
                // The rewritten pages are unsaved changes; a later write would commit them too.
                if (store.hasUnsavedChanges()) {
                    store.commit();
                }
            }
            // Freed chunks leave holes that new chunks fill only as they fit; the file shrinks
            // only when its tail is free. Moving the chunks behind the first hole forward (under
            // the store lock, as MVStore's own housekeeping does) lets it truncate the tail, so
            // the file also shrinks back after a burst of garbage (a dropped database).
            FileStore<?> fileStore = store.getFileStore();
            if (fileStore instanceof RandomAccessStore && store.getFillRate() < fillRate) {
                ((RandomAccessStore) fileStore).compactMoveChunks(fillRate, writeBytes, store);
                moves++;
            }
        } catch (RuntimeException e) {
            // Closed under us by the shutdown hook, or a compaction failure: report it and leave
            // the store to its own housekeeping (compaction is an optimisation, never required).
            if (!store.isClosed()) {
                System.err.println("StoreCompactor: compaction failed: " + e);
            }
            return;
        } finally {
            busyNanos += System.nanoTime() - started;
        }
        rounds++;
        if (verbose && rounds % 10 == 0) {
            FileStore<?> fs = store.getFileStore();
            System.out.printf("StoreCompactor: file %d MB, chunks fill %d%%, file fill %d%%, rewrote in %d"
                    + " and moved in %d of %d rounds, %d ms busy%n", file.length() >> 20, fs.getChunksFillRate(),
                store.getFillRate(), rewrites, moves, rounds, busyNanos / 1_000_000);
        }
    }
}
