import org.h2.mvstore.FileStore;
import org.h2.mvstore.MVStore;

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
 * it waits for the store lock like any writer). The emptied chunks are freed after the
 * retention time and their space is reused by new chunks, so the file stops growing.
 */
final class StoreCompactor {
    private final MVStore store;
    private final File file;
    private final int fillRate;
    private final int writeBytes;
    private final boolean verbose;
    private long rounds;
    private long rewrites;
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
            FileStore<?> fileStore = store.getFileStore();
            System.out.printf("StoreCompactor: file %d MB, chunks fill %d%%, file fill %d%%, rewrote in %d"
                    + " of %d rounds, %d ms busy%n", file.length() >> 20, fileStore.getChunksFillRate(),
                store.getFillRate(), rewrites, rounds, busyNanos / 1_000_000);
        }
    }
}
