import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.h2.BsonDocuments;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.h2.KeyFirstUniqueIndex;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import java.io.File;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Starts mongo-java-server 1.47.0 on its H2 MVStore backend, for local development and tests.
 *
 * Usage: java -cp 'libs/mongo/*:build' MongoLauncher [--port 27017] [--host 127.0.0.1] [--file PATH]
 *        [--cache-mb N] [--compact-every-ms 1000] [--compact-fill-rate 90] [--compact-write-mb 4]
 *        [--retention-ms 0] [--compact-log true|false]
 *
 * --compact-every-ms 0 turns the launcher's own compaction off (StoreCompactor: why it is needed).
 * Exit codes: 2 = cannot start (port taken, store file unusable), 64 = bad arguments.
 */
public final class MongoLauncher {

    /**
     * PyMongo 4.20 requires wire version 9 (MongoDB 4.4). The library's ServerVersion enum only has
     * 3.6, 4.0 and 5.0, and its 5.0 reports wire 8, so we supply our own version.
     */
    static final MongoVersion MONGO_4_4 = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    };

    /**
     * H2Backend that commits the MVStore before a reply leaves the server. The store's own
     * auto-commit runs about once a second, so without this a SIGKILL loses writes that the
     * client already saw acknowledged.
     */
    static final class DurableH2Backend extends H2Backend {
        /**
         * Commands that never change the store: they skip the commit check, which walks every
         * open map (every collection and index of every database in the file).
         */
        private static final Set<String> READ_ONLY_COMMANDS = Set.of("find", "getmore", "count",
            "distinct", "listcollections", "listindexes", "listdatabases", "dbstats", "collstats",
            "hello", "ismaster", "ping", "buildinfo", "whatsmyuri", "getparameter", "serverstatus",
            "connectionstatus", "hostinfo", "getcmdlineopts", "getlog", "killcursors", "endsessions",
            "getlasterror");

        DurableH2Backend(MVStore store) {
            super(store);
        }

        @Override
        protected MongoDatabase openOrCreateDatabase(String databaseName) {
            return new KeyFirstDatabase(databaseName, getMvStore(), getCursorRegistry());
        }

        /**
         * An H2 database whose unique indexes (`_id` among them) also serve guarded queries and
         * whose documents are stored as BSON (see BsonDocuments). An inner class: H2Database's
         * constructor opens the existing collections and indexes before a subclass's own fields
         * are set, and the enclosing backend (which holds the store) is set first.
         */
        final class KeyFirstDatabase extends H2Database {
            KeyFirstDatabase(String name, MVStore mvStore, CursorRegistry cursors) {
                super(name, mvStore, cursors);
            }

            @Override
            protected Index<Object> openOrCreateUniqueIndex(String collection, String indexName, List<IndexKey> keys,
                                                            boolean sparse) {
                // H2Database's own map name, so existing store files keep their indexes.
                String map = getFullCollectionNamespace(collection) + "._index_" + indexName;
                return new KeyFirstUniqueIndex(KeyFirstUniqueIndex.openMap(getMvStore(), map), indexName, keys, sparse);
            }

            @Override
            protected MongoCollection<Object> openOrCreateCollection(String collection, CollectionOptions options) {
                // H2Database's own map names, so existing store files keep their collections.
                String fullName = getFullCollectionNamespace(collection);
                MVMap<String, Object> meta = getMvStore().openMap("meta." + fullName);
                return new BsonDocuments.CopyOnReadCollection(this, collection, options,
                    BsonDocuments.openDataMap(getMvStore(), fullName), meta, cursorRegistry);
            }
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            // A command reads the maps as of the version current when it started (cursors are
            // materialized within the command: InMemoryCursor). Registering that version keeps
            // every chunk it may still read from being freed and overwritten, whatever the
            // retention time, so the retention can be 0 (see openStore).
            MVStore.TxCounter reading = getMvStore().registerVersionUsage();
            try {
                return super.handleCommand(channel, database, command, query);
            } finally {
                getMvStore().deregisterVersionUsage(reading);
                // Also on failure: a command can apply some writes (e.g. insertMany) and then throw.
                MVStore store = getMvStore();
                if (!isReadOnly(command, query) && store.hasUnsavedChanges()) {
                    store.commit();
                }
            }
        }

        /** Unknown commands count as writes; aggregate is read-only unless it has $out/$merge. */
        static boolean isReadOnly(String command, Document query) {
            String name = command.toLowerCase(Locale.ROOT);
            if (READ_ONLY_COMMANDS.contains(name)) {
                return true;
            }
            if (!name.equals("aggregate") || query == null || !(query.get("pipeline") instanceof List)) {
                return false;
            }
            for (Object stage : (List<?>) query.get("pipeline")) {
                if (!(stage instanceof Document)
                    || ((Document) stage).containsKey("$out") || ((Document) stage).containsKey("$merge")) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * The store as H2Backend(String) opens it (MVStore.open), but with a page cache of a quarter
     * of the heap by default (--cache-mb; stack.sh passes MONGO_CACHE_MB) instead of 16 MB: the dev
     * store's working set is larger than 16 MB, and each cache miss re-reads a page and
     * deserializes every document on it. Measured on a copy of the dev store: about 30% less CPU
     * per find_one.
     *
     * The retention time is how long a chunk stays on disk after its last live page moved away,
     * and a chunk younger than it is never rewritten by compaction either. MVStore's default,
     * 45 s, assumes the OS flushes its write buffers within that time (a power loss; Linux's
     * dirty-page expiry is 30 s, so even 10 s never gave that) and guards readers that walk an
     * old version of a map. A process crash (SIGKILL) needs none of it: the last commit's chunks
     * are live and the OS page cache survives. Readers are guarded exactly instead: each command
     * registers the version it reads (DurableH2Backend.handleCommand), and a chunk is only freed
     * once no registered version can reach it. So the default is 0: at hundreds of commits a
     * second, every second of retention keeps megabytes of dead chunks in the file (measured: file
     * 4.5x its live data with 10 s, 1.8x with 0; docs/operations.md).
     */
    static MVStore openStore(String file, int cacheMb, int retentionMs) {
        if (cacheMb <= 0) {
            long quarterHeapMb = Runtime.getRuntime().maxMemory() / 4 / (1024 * 1024);
            cacheMb = (int) Math.max(16, Math.min(1024, quarterHeapMb));
        }
        MVStore store = new MVStore.Builder().fileName(file).cacheSize(cacheMb).open();
        if (retentionMs >= 0) {
            store.setRetentionTime(retentionMs);
        }
        return store;
    }

    public static void main(String[] args) {
        // slf4j-simple reads these when the first logger is created, i.e. below. The wire handler
        // logs every client connect/disconnect at INFO, which drowns the useful lines.
        defaultProperty("org.slf4j.simpleLogger.showDateTime", "true");
        defaultProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSS");
        defaultProperty("org.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire", "warn");

        int port = 27017;
        String host = "127.0.0.1";
        String file = ".local/mongo/hotline.mv";
        int cacheMb = 0;
        int compactEveryMs = 1000;
        int compactFillRate = 90;
        int compactWriteMb = 4;
        int retentionMs = 0;
        boolean compactLog = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (i + 1 >= args.length) {
                usage("missing value for " + arg);
            }
            String value = args[++i];
            switch (arg) {
                case "--port":
                    try {
                        port = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        usage("--port needs a number, got '" + value + "'");
                    }
                    break;
                case "--host":
                    host = value;
                    break;
                case "--file":
                    file = value;
                    break;
                case "--cache-mb":
                    cacheMb = number(arg, value, 0, 1 << 20);
                    break;
                case "--compact-every-ms":
                    compactEveryMs = number(arg, value, 0, 3_600_000);
                    break;
                case "--compact-fill-rate":
                    compactFillRate = number(arg, value, 1, 100);
                    break;
                case "--compact-write-mb":
                    compactWriteMb = number(arg, value, 1, 1024);
                    break;
                case "--retention-ms":
                    retentionMs = number(arg, value, 0, 3_600_000);
                    break;
                case "--compact-log":
                    compactLog = Boolean.parseBoolean(value);
                    break;
                default:
                    usage("unknown argument " + arg);
            }
        }

        File parent = new File(file).getAbsoluteFile().getParentFile();
        if (parent != null) {
            parent.mkdirs();
        }

        DurableH2Backend backend;
        try {
            MVStore store = openStore(file, cacheMb, retentionMs);
            int converted = BsonDocuments.convertStoredDocuments(store);
            if (converted > 0) {
                System.out.println("MongoLauncher: converted " + converted
                    + " collections from Java-serialized documents to BSON");
            }
            backend = new DurableH2Backend(store);
            if (compactEveryMs > 0) {
                new StoreCompactor(store, file, compactFillRate, compactWriteMb << 20, compactLog).start(compactEveryMs);
            }
        } catch (RuntimeException e) {
            // Typically the file is locked by another running server.
            System.err.println("MongoLauncher: cannot open store file " + file + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        backend.version(MONGO_4_4);

        MongoServer server = new MongoServer(backend);
        try {
            server.bind(host, port);
        } catch (Exception e) { // Netty rethrows java.net.BindException undeclared, so catch all
            String reason = e instanceof java.net.BindException
                ? "port " + port + " is already in use"
                : "bind to port " + port + " failed";
            System.err.println("MongoLauncher: cannot listen on " + host + ":" + port + ": " + reason
                + " (" + e + ")");
            // Netty's event loop threads would keep the JVM alive: stop them and exit.
            try {
                server.shutdownNow();
            } catch (RuntimeException ignored) {
                // bind() may already have shut down; we exit either way.
            }
            System.exit(2);
            return;
        }

        // SIGTERM/SIGINT: close client connections and the store (final commit, clean file).
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            System.out.println("MongoLauncher: stopped, store closed");
        }, "mongo-launcher-shutdown"));

        System.out.println("MongoLauncher: listening on " + host + ":" + port + " (MongoDB "
            + MONGO_4_4.toVersionString() + ", wire " + MONGO_4_4.getWireVersion() + "), store "
            + new File(file).getAbsolutePath());
    }

    private static int number(String arg, String value, int min, int max) {
        try {
            int n = Integer.parseInt(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        usage(arg + " needs a number from " + min + " to " + max + ", got '" + value + "'");
        return min;
    }

    private static void defaultProperty(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    private static void usage(String problem) {
        System.err.println("MongoLauncher: " + problem);
        System.err.println("usage: MongoLauncher [--port N] [--host ADDR] [--file PATH] [--cache-mb N]"
            + " [--compact-every-ms N] [--compact-fill-rate PERCENT] [--compact-write-mb N] [--retention-ms N]"
            + " [--compact-log true|false]");
        System.exit(64);
    }
}
