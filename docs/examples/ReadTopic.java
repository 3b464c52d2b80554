// An outside consumer of the exchange's topics, with nothing but Apache Avro, the Kafka client and
// the .avsc files of schemas/avro/. Each message is Avro single-object encoded: the decoder finds
// the writer's schema by the fingerprint in the message's header.
//
//   java -cp "<avro and kafka-clients jars>" ReadTopic.java 127.0.0.1:9092 exchange.trades \
//       exchange.TradeBatch schemas/avro 10
//
// prints the first 10 messages of the topic, one record a line, as JSON. Each topic carries one
// record type (docs/kafka-topics.md).

import java.io.File;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.avro.AvroTypeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ReadTopic {
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
        String bootstrap = args[0], topic = args[1], recordType = args[2];
        int count = Integer.parseInt(args[4]);

        Map<String, Schema> types = parseAll(new File(args[3]));
        SchemaStore.Cache store = new SchemaStore.Cache();
        types.values().forEach(store::addSchema);
        Schema reader = types.get(recordType);
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), reader, store);

        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.GROUP_ID_CONFIG, "read-topic-example");
        try (KafkaConsumer<String, byte[]> consumer =
                 new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic));
            for (int seen = 0; seen < count; ) {
                for (ConsumerRecord<String, byte[]> message : consumer.poll(Duration.ofSeconds(1))) {
                    System.out.println(decoder.decode(message.value()));
                    seen++;
                }
            }
        }
    }
}
