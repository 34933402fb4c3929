package lakescore.catalog;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.*;
import org.apache.spark.sql.connector.catalog.*;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.delta.catalog.DeltaCatalog;
import org.apache.spark.sql.types.StructType;

/**
 * lakescore's local catalog: the warehouse folder is the truth, the in-memory session catalog a
 * cache of it. {@code <warehouse>/<schema>.db/<table>/_delta_log} is a table and
 * {@code <warehouse>/<schema>.db/_views/<view>.sql} a view (the SELECT it stands for). A name this
 * process does not know yet is looked up in the folder when it is asked for and registered then
 * (an external Delta table at its folder, a view from its SQL), so a table or view another process
 * created is visible at once; listings read the folders. Nothing is locked: any number of
 * processes read and write, and Delta's log arbitrates concurrent commits.
 */
public class WarehouseCatalog extends DeltaCatalog {
    public static final String VIEWS = "_views";
    private static final String DELTA_LOG = "_delta_log";
    private static final String DEFAULT = "default";

    /** Names being registered by this thread (registration runs SQL that looks names up again). */
    private static final ThreadLocal<Set<String>> REGISTERING = ThreadLocal.withInitial(HashSet::new);
    /** The SQL each view was registered with, to notice a view another process replaced. */
    private final Map<String, String> views = new ConcurrentHashMap<>();

    // ---------------------------------------------------------------------------- folders
    private static Path warehouse(SparkSession spark) { return new Path(spark.sessionState().conf().warehousePath()); }

    private static FileSystem fs(SparkSession spark, Path path) {
        try {
            return path.getFileSystem(spark.sessionState().newHadoopConf());
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    private static String norm(String name) { return name.toLowerCase(Locale.ROOT); }

    /** The folder of a schema: {@code <warehouse>/<schema>.db} ({@code default}: the warehouse). */
    public static Path schemaDir(SparkSession spark, String schema) {
        String s = norm(schema);
        return DEFAULT.equals(s) ? warehouse(spark) : new Path(warehouse(spark), s + ".db");
    }

    private Path schemaDir(String schema) { return schemaDir(spark(), schema); }

    private Path tableDir(Identifier ident) {
        return new Path(schemaDir(ident.namespace()[0]), norm(ident.name()));
    }

    private static Path viewFile(SparkSession spark, String schema, String view) {
        return new Path(new Path(schemaDir(spark, schema), VIEWS), norm(view) + ".sql"); }

    private boolean exists(Path path) {
        try {
            return fs(spark(), path).exists(path);
        } catch (IOException e) {
            return false;
        }
    }

    /** A folder holds a Delta table once its first commit (or a checkpoint) is in the log. */
    private boolean isDeltaDir(Path dir) {
        Path log = new Path(dir, DELTA_LOG);
        return exists(new Path(log, "00000000000000000000.json")) || exists(new Path(log, "_last_checkpoint"));
    }

    private static String readText(SparkSession spark, Path file) {
        try (InputStream in = fs(spark, file).open(file)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toString(StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return null;
        }
    }

    private List<String> children(Path dir) {
        List<String> names = new ArrayList<>();
        try {
            for (FileStatus st : fs(spark(), dir).listStatus(dir)) {
                names.add(st.getPath().getName());
            }
        } catch (IOException e) {
            // no folder: nothing in it
        }
        return names;
    }

    /** A schema's tables and views as its folder holds them. */
    private Set<String> folderNames(String schema) {
        Set<String> names = new TreeSet<>();
        Path dir = schemaDir(schema);
        for (String name : children(dir)) {
            if (!name.startsWith("_") && !name.endsWith(".db") && isDeltaDir(new Path(dir, name))) {
                names.add(name);
            }
        }
        for (String name : children(new Path(dir, VIEWS))) {
            if (name.endsWith(".sql")) {
                names.add(name.substring(0, name.length() - 4));
            }
        }
        return names;
    }

    /** Identifiers lakescore's folders answer for: {@code <schema>.<name>} of the session catalog
     * (not Delta's path identifiers such as {@code delta.`/some/path`}). */
    private static boolean plain(Identifier ident) {
        return ident.namespace().length == 1 && !ident.name().contains("/");
    }

    // ----------------------------------------------------------------------- registration
    private boolean ensureSchema(String schema) {
        String[] ns = {norm(schema)};
        if (DEFAULT.equals(ns[0]) || super.namespaceExists(ns)) {
            return true;
        }
        Path dir = schemaDir(schema);
        if (!exists(dir)) {
            return false;
        }
        try {
            super.createNamespace(ns, Map.of(SupportsNamespaces.PROP_LOCATION, dir.toString()));
        } catch (Exception e) {
            // registered by another thread meanwhile
        }
        return super.namespaceExists(ns);
    }

    /** Make the session catalog agree with the folder for one name: register a table or view
     * the folder has and the session does not, forget a table whose folder is gone, re-register a
     * view whose SQL changed. */
    private void refresh(Identifier ident) {
        if (!plain(ident)) {
            return;
        }
        String key = norm(ident.namespace()[0]) + "." + norm(ident.name());
        Set<String> busy = REGISTERING.get();
        if (!busy.add(key)) {
            return;
        }
        try {
            if (!ensureSchema(ident.namespace()[0])) {
                return;
            }
            Identifier id = Identifier.of(new String[] {norm(ident.namespace()[0])}, norm(ident.name()));
            Path dir = tableDir(id);
            boolean known = super.tableExists(id);
            if (isDeltaDir(dir)) {
                if (!known) {
                    registerTable(id, dir);
                }
                return;
            }
            String sql = readText(spark(), viewFile(spark(), id.namespace()[0], id.name()));
            if (sql != null) {
                if (!known || !sql.equals(views.get(key))) {
                    spark().sql("CREATE OR REPLACE VIEW " + quoted(id) + " AS " + sql);
                    views.put(key, sql);
                }
                return;
            }
            if (known && views.remove(key) == null && isOurDeltaTable(id, dir)) {
                super.dropTable(id);  // its folder was dropped by another process: forget it here
            }
        } finally {
            busy.remove(key);
        }
    }

    private boolean isOurDeltaTable(Identifier id, Path dir) {
        try {
            Map<String, String> props = super.loadTable(id).properties();
            String location = props.get(TableCatalog.PROP_LOCATION);
            return location != null && new Path(location).toUri().getPath().equals(dir.toUri().getPath());
        } catch (Exception e) {
            return false;
        }
    }

    private void registerTable(Identifier id, Path dir) {
        Map<String, String> props = new HashMap<>();
        props.put(TableCatalog.PROP_PROVIDER, "delta");
        props.put(TableCatalog.PROP_LOCATION, dir.toString());
        try {
            super.createTable(id, new StructType(), new Transform[0], props);
        } catch (Exception e) {
            if (!super.tableExists(id)) {  // not a race with another thread of this process
                throw e;
            }
        }
    }

    private static String quoted(Identifier id) {
        return "`" + id.namespace()[0].replace("`", "``") + "`.`" + id.name().replace("`", "``") + "`"; }

    /** New tables go to their folder (external, so that a drop in any process is the folder's). */
    private Map<String, String> located(Identifier ident, Map<String, String> properties) {
        if (!plain(ident) || properties.containsKey(TableCatalog.PROP_LOCATION)) {
            return properties;
        }
        refresh(ident);
        if (super.tableExists(ident)) {
            return properties;
        }
        Map<String, String> props = new HashMap<>(properties);
        props.put(TableCatalog.PROP_LOCATION, tableDir(ident).toString());
        return props;
    }

    /** Store a view's SQL in the warehouse, so every process finds it (lakescore's table store
     * calls this after CREATE VIEW). */
    public static void saveView(SparkSession spark, String schema, String view, String sql) throws IOException {
        Path file = viewFile(spark, schema, view);
        Path tmp = new Path(file.getParent(), "." + file.getName() + "." + System.nanoTime() + ".tmp");
        FileSystem fs = fs(spark, file);
        fs.mkdirs(file.getParent());
        try (OutputStream out = fs.create(tmp, true)) {
            out.write(sql.strip().getBytes(StandardCharsets.UTF_8));
        }
        fs.delete(file, false);
        if (!fs.rename(tmp, file)) {
            fs.delete(tmp, false);
            throw new IOException("could not write " + file);
        }
    }

    // -------------------------------------------------------------------------- tables
    @Override
    public Table loadTable(Identifier ident) {
        refresh(ident);
        return super.loadTable(ident);
    }

    @Override
    public Table loadTable(Identifier ident, long timestamp) {
        refresh(ident);
        return super.loadTable(ident, timestamp);
    }

    @Override
    public Table loadTable(Identifier ident, String version) {
        refresh(ident);
        return super.loadTable(ident, version);
    }

    @Override
    public boolean tableExists(Identifier ident) {
        refresh(ident);
        return super.tableExists(ident);
    }

    @Override
    public Identifier[] listTables(String[] namespace) throws NoSuchNamespaceException {
        if (namespace.length != 1) {
            return super.listTables(namespace);
        }
        String schema = norm(namespace[0]);
        ensureSchema(schema);
        Set<String> names = folderNames(schema);
        for (Identifier id : super.listTables(namespace)) {
            if (!names.contains(norm(id.name())) && !isOurDeltaTable(id, tableDir(id))) {
                names.add(norm(id.name()));  // not a folder's: a table of another kind, a temp
            }
        }
        return names.stream().map(n -> Identifier.of(new String[] {schema}, n)).toArray(Identifier[]::new);
    }

    @Override
    public Table createTable(Identifier ident, StructType schema, Transform[] parts, Map<String, String> props) {
        return super.createTable(ident, schema, parts, located(ident, props));
    }

    @Override
    public Table createTable(Identifier ident, Column[] columns, Transform[] parts, Map<String, String> props) {
        return super.createTable(ident, columns, parts, located(ident, props));
    }

    @Override
    public StagedTable stageCreate(Identifier ident, StructType schema, Transform[] parts, Map<String, String> props) {
        return super.stageCreate(ident, schema, parts, located(ident, props));
    }

    @Override
    public StagedTable stageCreate(Identifier ident, Column[] columns, Transform[] parts, Map<String, String> props)
            throws TableAlreadyExistsException, NoSuchNamespaceException {
        return super.stageCreate(ident, columns, parts, located(ident, props));
    }

    @Override
    public StagedTable stageReplace(Identifier ident, StructType schema, Transform[] parts, Map<String, String> props) {
        return super.stageReplace(ident, schema, parts, located(ident, props));
    }

    @Override
    public StagedTable stageReplace(Identifier ident, Column[] columns, Transform[] parts, Map<String, String> props)
            throws NoSuchNamespaceException, NoSuchTableException {
        return super.stageReplace(ident, columns, parts, located(ident, props));
    }

    @Override
    public StagedTable stageCreateOrReplace(Identifier ident, StructType schema, Transform[] parts,
                                            Map<String, String> props) {
        return super.stageCreateOrReplace(ident, schema, parts, located(ident, props));
    }

    @Override
    public StagedTable stageCreateOrReplace(Identifier ident, Column[] columns, Transform[] parts,
                                            Map<String, String> props) throws NoSuchNamespaceException {
        return super.stageCreateOrReplace(ident, columns, parts, located(ident, props));
    }

    @Override
    public boolean dropTable(Identifier ident) {
        refresh(ident);
        boolean dropped = super.dropTable(ident);
        if (plain(ident)) {
            Path dir = tableDir(ident);
            if (isDeltaDir(dir)) {
                try {
                    dropped = fs(spark(), dir).delete(dir, true) || dropped;
                } catch (IOException e) {
                    throw new RuntimeException("could not delete " + dir, e);
                }
            }
        }
        return dropped;
    }

    @Override
    public boolean purgeTable(Identifier ident) { return dropTable(ident); }

    // ---------------------------------------------------------------------- namespaces
    @Override
    public String[][] listNamespaces() throws NoSuchNamespaceException {
        Set<String> names = new TreeSet<>();
        names.add(DEFAULT);
        for (String[] ns : super.listNamespaces()) {
            names.add(ns[0]);
        }
        for (String name : children(warehouse(spark()))) {
            if (name.endsWith(".db") && name.length() > 3) {
                names.add(name.substring(0, name.length() - 3));
            }
        }
        return names.stream().map(n -> new String[] {n}).toArray(String[][]::new);
    }

    @Override
    public String[][] listNamespaces(String[] ns) throws NoSuchNamespaceException {
        return ns.length == 0 ? listNamespaces() : super.listNamespaces(ns); }

    @Override
    public boolean namespaceExists(String[] ns) { return ns.length == 1 ? ensureSchema(ns[0]) : super.namespaceExists(ns); }

    @Override
    public Map<String, String> loadNamespaceMetadata(String[] namespace) throws NoSuchNamespaceException {
        if (namespace.length == 1) {
            ensureSchema(namespace[0]);
        }
        return super.loadNamespaceMetadata(namespace);
    }

    @Override
    public void createNamespace(String[] namespace, Map<String, String> metadata)
            throws NamespaceAlreadyExistsException {
        Map<String, String> props = new HashMap<>(metadata);
        if (namespace.length == 1 && !props.containsKey(SupportsNamespaces.PROP_LOCATION)) {
            props.put(SupportsNamespaces.PROP_LOCATION, schemaDir(namespace[0]).toString());
        }
        super.createNamespace(namespace, props);
    }

    @Override
    public boolean dropNamespace(String[] namespace, boolean cascade)
            throws NoSuchNamespaceException, NonEmptyNamespaceException {
        if (namespace.length == 1 && ensureSchema(namespace[0])) {
            for (String name : folderNames(namespace[0])) {
                refresh(Identifier.of(namespace, name));  // a non-cascading drop must see them
            }
        }
        return super.dropNamespace(namespace, cascade);
    }
}
