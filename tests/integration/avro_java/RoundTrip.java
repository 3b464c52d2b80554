// Apache Avro for Java reading and rewriting the exchange's messages, for test_avro_java.py.
//
// stdin: one message a line, "<record type> <message as hex>". stdout: for each, the message as
// Java's BinaryMessageEncoder writes the record that Java's BinaryMessageDecoder read, as hex, then
// the record as JSON; or "ERROR <exception>" when Java cannot read it.

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;

public class RoundTrip {
    /** Every named type of the .avsc files in a directory, by full name. The files refer to each
     *  other's types by name; each is parsed once the types it uses are known. (Avro 1.12's
     *  SchemaParser resolves forward references, but checks a field's default before it does, so
     *  an enum default such as MarketStatus's fails there.) */
    static Map<String, Schema> parseAll(File directory) throws IOException {
        Map<String, Schema> known = new HashMap<>();
        List<File> pending = new ArrayList<>(List.of(directory.listFiles((dir, name) -> name.endsWith(".avsc"))));
        while (!pending.isEmpty()) {
            int before = pending.size();
            for (Iterator<File> files = pending.iterator(); files.hasNext(); ) {
                Schema.Parser parser = new Schema.Parser().addTypes(known.values());
                try {
                    parser.parse(files.next());
                } catch (SchemaParseException | AvroTypeException notYet) {
                    continue;  // uses a type of a file not parsed yet
                }
                known.putAll(parser.getTypes());
                files.remove();
            }
            if (pending.size() == before) {
                throw new IllegalStateException("cannot parse (uses a type defined nowhere?): " + pending);
            }
        }
        return known;
    }

    public static void main(String[] args) throws Exception {
        Map<String, Schema> byName = parseAll(new File(args[0]));
        SchemaStore.Cache store = new SchemaStore.Cache();
        byName.values().forEach(store::addSchema);
        HexFormat hex = HexFormat.of();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] parts = line.strip().split(" ");
            Schema schema = byName.get(parts[0]);
            try {
                // The decoder checks the header's fingerprint against its schema's, then the store's.
                GenericRecord record = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), schema, store)
                    .decode(hex.parseHex(parts[1]));
                byte[] again = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema)
                    .encode(record).array();
                System.out.println(hex.formatHex(again) + " " + record);
            } catch (Exception error) {
                System.out.println("ERROR " + error);
            }
        }
    }
}
