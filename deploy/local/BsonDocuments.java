// In the library's package: the data maps' name prefix is package-private.
package de.bwaldvogel.mongo.backend.h2;

import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.DocumentWithPosition;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.BsonConstants;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.h2.mvstore.DataUtils;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.BasicDataType;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Collections' documents stored as BSON instead of Java serialization.
 *
 * H2Database opens its data maps with MVStore's default ObjectDataType, which Java-serializes
 * every document. The store commits after each write command (durability), and a commit writes
 * each changed page whole, so every update re-serialized its document and its page neighbours:
 * measured in a `make bench` run, a quarter of the store's CPU was java.io.ObjectOutputStream.
 * BSON, the server's own wire codec, holds every value a client can store, and is cheaper to
 * write, to read back and to keep on disk (figures in docs/operations.md, "The local stack").
 */
public final class BsonDocuments {

    /** A store whose documents are all BSON says so under this key of {@link #FORMAT_MAP}. */
    static final String FORMAT_MAP = "hotline.format";
    static final String DOCUMENTS_KEY = "documents";
    static final String BSON = "bson";
    /** A data map being converted; dropped if a conversion was interrupted. */
    static final String CONVERTING_PREFIX = "hotline.converting.";

    private BsonDocuments() {
    }

    /** A collection's data map, its documents as BSON. */
    public static MVMap<Object, Document> openDataMap(MVStore store, String fullCollectionName) {
        return openBsonMap(store, H2Database.DATABASES_PREFIX + fullCollectionName);
    }

    private static MVMap<Object, Document> openBsonMap(MVStore store, String mapName) {
        return store.openMap(mapName, new MVMap.Builder<Object, Document>().valueType(new DocumentType()));
    }

    /**
     * Converts a store file written with Java-serialized documents (by mongo-java-server's own
     * H2Backend, or by this launcher before it stored BSON) in place, one collection per commit.
     * Each commit holds a converted collection together with its mark in {@link #FORMAT_MAP}, so
     * an interrupted conversion resumes where it stopped. Returns how many collections changed.
     */
    public static int convertStoredDocuments(MVStore store) {
        MVMap<String, String> format = store.openMap(FORMAT_MAP);
        if (BSON.equals(format.get(DOCUMENTS_KEY))) {
            return 0;
        }
        // Only our explicit commits: each leaves the file with every map whole and marked.
        int autoCommitDelay = store.getAutoCommitDelay();
        store.setAutoCommitDelay(0);
        try {
            store.getMapNames().stream().filter(name -> name.startsWith(CONVERTING_PREFIX))
                .forEach(store::removeMap);
            List<String> dataMaps = store.getMapNames().stream()
                .filter(name -> name.startsWith(H2Database.DATABASES_PREFIX))
                .sorted()
                .collect(Collectors.toList());
            int converted = 0;
            for (String name : dataMaps) {
                if (BSON.equals(format.get(name))) {
                    continue;
                }
                MVMap<Object, Object> serialized = store.openMap(name);
                MVMap<Object, Document> bson = openBsonMap(store, CONVERTING_PREFIX + name);
                for (Map.Entry<Object, Object> entry : serialized.entrySet()) {
                    bson.put(entry.getKey(), (Document) entry.getValue());
                }
                store.removeMap(serialized);
                store.renameMap(bson, name);
                format.put(name, BSON);
                store.commit();
                converted++;
            }
            format.clear();
            format.put(DOCUMENTS_KEY, BSON);
            store.commit();
            return converted;
        } finally {
            store.setAutoCommitDelay(autoCommitDelay);
        }
    }

    /**
     * A collection whose readers get their own copy of each stored document.
     *
     * mongo-java-server updates a document by changing the stored object in place and putting it
     * back, while a commit may be writing the page that holds that object on another thread. Java
     * serialization walked the map without noticing (and could write a torn document, which the
     * next commit replaced); the BSON encoder's iterator throws ConcurrentModificationException,
     * and MVStore closes itself on a failed write. With a copy per read, an update changes and
     * puts back a document no page holds. The copy is shallow: an update replaces the changed
     * top-level values with deep copies and never changes the nested ones in place.
     */
    public static final class CopyOnReadCollection extends H2Collection {
        private final MVMap<Object, Document> dataMap;

        public CopyOnReadCollection(MongoDatabase database, String collectionName, CollectionOptions options,
                                    MVMap<Object, Document> dataMap, MVMap<String, Object> metaMap,
                                    CursorRegistry cursorRegistry) {
            super(database, collectionName, options, dataMap, metaMap, cursorRegistry);
            this.dataMap = dataMap;
        }

        /**
         * The collection's data size (collStats `size`, which nothing here reads) costs two BSON
         * encodings of the whole document per update, a tenth of the store's CPU in a `make bench`
         * profile, and a write to the meta map.
         */
        @Override
        protected boolean tracksDataSize() {
            return false;
        }

        @Override
        protected Document getDocument(Object position) {
            Document stored = super.getDocument(position);
            return stored == null ? null : new Document(stored);
        }

        @Override
        protected Stream<DocumentWithPosition<Object>> streamAllDocumentsWithPosition() {
            return super.streamAllDocumentsWithPosition()
                .map(found -> new DocumentWithPosition<>(new Document(found.getDocument()), found.getPosition()));
        }

        /** As H2Collection's, which streams the map's values themselves unless sorted by $natural descending. */
        @Override
        protected QueryResult matchDocuments(Document query, Document orderBy, int numberToSkip, int limit,
                                             int batchSize, Document fieldSelector) {
            if (isNaturalDescending(orderBy)) {
                return super.matchDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
            }
            return matchDocumentsFromStream(dataMap.values().stream().map(Document::new), query, orderBy,
                numberToSkip, limit, batchSize, fieldSelector);
        }
    }

    /** A document as its BSON bytes, after their length. */
    static final class DocumentType extends BasicDataType<Document> {
        /**
         * Pages are split and cached by estimated size; encoding a document only to measure it
         * would cost as much as writing it, so (as ObjectDataType does) the estimate is a moving
         * average of the sizes written and read. A decoded document takes a few times its BSON
         * bytes on the heap (maps, boxed values, strings), hence the factor: the page cache keeps
         * to its share of the heap, and pages hold about as many documents as before.
         */
        private static final int HEAP_BYTES_PER_BSON_BYTE = 4;
        private volatile int averageSize = 4096;

        @Override
        public int getMemory(Document document) {
            return averageSize;
        }

        @Override
        public void write(WriteBuffer out, Document document) {
            ByteBuf bytes = Unpooled.buffer(averageSize / HEAP_BYTES_PER_BSON_BYTE);
            try {
                BsonEncoder.encodeDocument(document, bytes);
                int length = bytes.readableBytes();
                out.putVarInt(length).put(bytes.array(), bytes.arrayOffset() + bytes.readerIndex(), length);
                track(length);
            } finally {
                bytes.release();
            }
        }

        @Override
        public Document read(ByteBuffer in) {
            int length = DataUtils.readVarInt(in);
            byte[] bytes = new byte[length];
            in.get(bytes);
            track(length);
            return decodeDocument(Unpooled.wrappedBuffer(bytes));
        }

        /**
         * BsonDecoder.decodeBson refuses documents over 16 MB, as the wire protocol must. The
         * server itself never enforces that size on updates (a `$push` can grow a document past
         * it), and a stored document must always read back, so documents and arrays are decoded
         * here and only their leaf values by the library.
         */
        private static Document decodeDocument(ByteBuf in) {
            int end = in.readerIndex() + in.readIntLE();
            Document document = new Document();
            byte type;
            while ((type = in.readByte()) != BsonConstants.TERMINATING_BYTE) {
                String name = BsonDecoder.decodeCString(in);
                document.put(name, decodeValue(type, in));
            }
            if (in.readerIndex() != end) {
                throw new IllegalStateException("stored BSON document ends at " + in.readerIndex() + ", not " + end);
            }
            return document;
        }

        private static Object decodeValue(byte type, ByteBuf in) {
            switch (type) {
                case BsonConstants.TYPE_EMBEDDED_DOCUMENT:
                    return decodeDocument(in);
                case BsonConstants.TYPE_ARRAY:
                    return new ArrayList<>(decodeDocument(in).values());
                default:
                    return BsonDecoder.decodeValue(type, in);
            }
        }

        private void track(int length) {
            averageSize = (int) ((HEAP_BYTES_PER_BSON_BYTE * length + 15L * averageSize) / 16);
        }

        @Override
        public Document[] createStorage(int size) {
            return new Document[size];
        }

        /** Values are never ordered; MVMap compares them only for equality (replace, remove). */
        @Override
        public int compare(Document a, Document b) {
            return a.equals(b) ? 0 : 1;
        }
    }
}
