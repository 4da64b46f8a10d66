import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.h2.BsonDocuments;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.BinData;
import de.bwaldvogel.mongo.bson.Decimal128;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.bson.ObjectId;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.List;
import java.util.UUID;

/**
 * Test helper for tests/integration/test_local_stack.py.
 *
 * write FILE: a store file as mongo-java-server's own H2Backend writes it (Java-serialized
 * documents), with values of every common BSON type.
 * read FILE NAMESPACE: opens FILE without the server and prints how many documents the
 * collection holds when its values are read as BSON (fails if they are not BSON).
 */
public final class StockStore {
    public static void main(String[] args) {
        switch (args[0]) {
            case "write": write(args[1]); break;
            case "read": read(args[1], args[2]); break;
            default: throw new IllegalArgumentException(args[0]);
        }
    }

    private static void write(String file) {
        H2Backend backend = new H2Backend(file);
        MongoDatabase db = backend.resolveDatabase("legacy");
        MongoCollection<?> typed = db.createCollectionOrThrowIfExists("typed");
        Document doc = new Document("_id", "typed-1");
        doc.put("string", "良乡 town");
        doc.put("int32", 42);
        doc.put("int64", 9_000_000_000L);
        doc.put("double", 2.5);
        doc.put("decimal", Decimal128.fromNumber(new BigDecimal("12.34")));
        doc.put("true", true);
        doc.put("null", null);
        doc.put("date", Instant.ofEpochMilli(1_764_201_600_123L));
        doc.put("oid", new ObjectId("5f1e9a2b3c4d5e6f7a8b9c0d"));
        doc.put("binary", new BinData(new byte[] {1, 2, 3}));
        doc.put("uuid", UUID.fromString("123e4567-e89b-12d3-a456-426614174000"));
        doc.put("nested", new Document("list", List.of(1, "two", new Document("three", 3.0))));
        typed.addDocument(doc);
        MongoCollection<?> many = db.createCollectionOrThrowIfExists("many");
        for (int i = 0; i < 500; i++) {
            many.addDocument(new Document("_id", i).append("unit", "1101" + (i % 7)).append("n", i));
        }
        backend.close();
    }

    private static void read(String file, String namespace) {
        MVStore store = new MVStore.Builder().fileName(file).readOnly().open();
        MVMap<Object, Document> data = BsonDocuments.openDataMap(store, namespace);
        int count = 0;
        for (Document document : data.values()) {
            count += document.containsKey("_id") ? 1 : 0;
        }
        System.out.println(count);
        store.close();
    }
}
