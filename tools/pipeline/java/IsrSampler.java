// Samples a topic's in-sync replicas with Kafka's own admin client, as the pipeline tier's roll figures need them:
// one JSON line per sample with the partitions under min.insync.replicas and those with any replica out of sync.
// Run in source-file mode against the pinned jars: java -cp 'libs/*' IsrSampler.java <bootstrap> <topic> <minIsr> <intervalMs>
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;

public class IsrSampler {
    public static void main(String[] args) throws Exception {
        String topic = args[1];
        int minIsr = Integer.parseInt(args[2]);
        long interval = Long.parseLong(args[3]);
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("request.timeout.ms", "2000");
        props.put("default.api.timeout.ms", "3000");
        try (Admin admin = Admin.create(props)) {
            while (true) {
                long began = System.currentTimeMillis();
                String line;
                try {
                    TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                    int underMin = 0, under = 0, offline = 0;
                    for (TopicPartitionInfo p : description.partitions()) {
                        if (p.isr().size() < minIsr) underMin++;
                        if (p.isr().size() < p.replicas().size()) under++;
                        if (p.leader() == null || p.leader().isEmpty()) offline++;
                    }
                    line = String.format("{\"t\":%d,\"partitions\":%d,\"under_min_isr\":%d,\"under_replicated\":%d,\"offline\":%d}",
                        began, description.partitions().size(), underMin, under, offline);
                } catch (Exception e) {
                    Throwable cause = e.getCause() == null ? e : e.getCause();
                    line = String.format("{\"t\":%d,\"error\":\"%s\"}", began, cause.getClass().getSimpleName());
                }
                System.out.println(line);
                System.out.flush();
                long rest = interval - (System.currentTimeMillis() - began);
                if (rest > 0) Thread.sleep(rest);
            }
        }
    }
}
