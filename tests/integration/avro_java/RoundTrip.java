// Apache Avro for Java reading and rewriting the exchange's messages, for test_outside_consumers.py.
//
// stdin: one message a line, "<record type> <message as hex>". stdout: for each, the message as
// Java's BinaryMessageEncoder writes the record that Java's BinaryMessageDecoder read, as hex, then
// the record as JSON; or "ERROR <exception>" when Java cannot read it.

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.util.HexFormat;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;

public class RoundTrip {
    public static void main(String[] args) throws Exception {
        Map<String, Schema> byName = ReadTopic.parseAll(new File(args[0]));  // the documented example's
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
