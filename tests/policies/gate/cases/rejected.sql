-- Queries the gate refuses. Each case: `-- expect:` the exact set of reason codes, then the SQL ended
-- by `;` at the end of a line (so `SELECT 1; SELECT 2;` is one case with two statements).

-- title: raw projection of a hidden column
-- expect: hidden_column, raw_projection
SELECT name FROM residents;

-- title: raw projection of a group column
-- expect: raw_projection
SELECT district FROM residents;

-- title: output column missing from group by
-- expect: raw_projection
SELECT district, sex, COUNT(*) FROM residents GROUP BY district;

-- title: hidden column in where
-- expect: hidden_column
SELECT COUNT(*) FROM residents WHERE name = 'Zhang San';

-- title: hidden column in group by and order by
-- expect: hidden_column
SELECT COUNT(*) AS n FROM residents GROUP BY phone ORDER BY phone;

-- title: hidden column inside an allowed aggregate
-- expect: hidden_column
SELECT COUNT(DISTINCT name) FROM residents;

-- title: min max and string_agg of protected columns
-- expect: aggregate_not_allowed, hidden_column
SELECT MIN(age), MAX(income), string_agg(name, ',') FROM residents;

-- title: other aggregates that return one person's value
-- expect: aggregate_not_allowed
SELECT list(age), first(income), any_value(age), arg_max(income, age), mode(age), quantile_cont(income, 0.5), median(income) FROM residents;

-- title: count of a column and sum of an expression
-- expect: aggregate_not_allowed
SELECT COUNT(income), SUM(income + 1), AVG(DISTINCT age) FROM residents;

-- title: cast of a hidden column
-- expect: function_not_allowed, hidden_column
SELECT CAST(name AS INT) FROM residents;

-- title: try_cast and double colon casts
-- expect: function_not_allowed
SELECT district, TRY_CAST(district AS INT), district::VARCHAR FROM residents GROUP BY district;

-- title: scalar function in where
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE upper(district) = 'HAIDIAN';

-- title: cast literal is not a typed literal
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE birth_date < '2000-01-01'::DATE;

-- title: malformed date literal
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE birth_date < DATE '2000/01/01';

-- title: star projection
-- expect: construct_not_allowed
SELECT * FROM residents;

-- title: qualified star projection
-- expect: construct_not_allowed
SELECT r.* FROM residents AS r;

-- title: columns expression
-- expect: construct_not_allowed
SELECT COLUMNS('inc.*') FROM residents;

-- title: column not granted
-- expect: column_not_granted, raw_projection
SELECT secret_col FROM residents;

-- title: column not granted in where
-- expect: column_not_granted
SELECT COUNT(*) FROM residents WHERE secret_col = 'x';

-- title: unknown column
-- expect: unknown_column
SELECT COUNT(*) FROM residents WHERE shoe_size > 40;

-- title: column qualified by another table
-- expect: unknown_column
SELECT COUNT(*) FROM residents AS r WHERE households.district = 'Haidian';

-- title: unknown table
-- expect: unknown_table
SELECT COUNT(*) FROM households;

-- title: schema qualified table
-- expect: unknown_table
SELECT COUNT(*) FROM main.residents;

-- title: join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS a JOIN residents AS b ON a.resident_id = b.resident_id;

-- title: comma join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents, residents AS other;

-- title: lateral
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents, LATERAL (SELECT 1 AS x);

-- title: common table expression
-- expect: construct_not_allowed, unknown_table
WITH t AS (SELECT district FROM residents) SELECT COUNT(*) FROM t;

-- title: subquery in from
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT district FROM residents) AS t;

-- title: subquery in where reading a hidden column
-- expect: construct_not_allowed, hidden_column
SELECT COUNT(*) FROM residents WHERE district IN (SELECT district FROM residents WHERE name = 'x');

-- title: union
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents UNION ALL SELECT COUNT(*) FROM residents;

-- title: intersect
-- expect: construct_not_allowed
SELECT district FROM residents INTERSECT SELECT district FROM residents;

-- title: except
-- expect: construct_not_allowed
SELECT district FROM residents EXCEPT SELECT district FROM residents;

-- title: parenthesised query
-- expect: construct_not_allowed
(SELECT COUNT(*) FROM residents);

-- title: window function
-- expect: construct_not_allowed
SELECT district, SUM(income) OVER (PARTITION BY district) FROM residents GROUP BY district;

-- title: qualify
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district QUALIFY row_number() OVER () = 1;

-- title: having
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district HAVING COUNT(*) > 10;

-- title: select distinct
-- expect: construct_not_allowed
SELECT DISTINCT district FROM residents GROUP BY district;

-- title: group by all
-- expect: construct_not_allowed, raw_projection
SELECT district, COUNT(*) FROM residents GROUP BY ALL;

-- title: group by ordinal
-- expect: construct_not_allowed, raw_projection
SELECT district, COUNT(*) FROM residents GROUP BY 1;

-- title: group by expression and rollup
-- expect: construct_not_allowed, function_not_allowed
SELECT COUNT(*) FROM residents GROUP BY ROLLUP (district), lower(sex);

-- title: pivot statement
-- expect: construct_not_allowed
PIVOT residents ON district USING SUM(income);

-- title: pivot in from
-- expect: construct_not_allowed
SELECT * FROM residents PIVOT (SUM(income) FOR district IN ('Haidian'));

-- title: from first syntax
-- expect: construct_not_allowed
FROM residents SELECT district, COUNT(*) GROUP BY district;

-- title: from alone
-- expect: construct_not_allowed
FROM residents;

-- title: using sample
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents USING SAMPLE 10%;

-- title: tablesample
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents TABLESAMPLE 10;

-- title: order by an ungrouped column
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY sex;

-- title: order by ordinal and expression
-- expect: construct_not_allowed, aggregate_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY 2, MAX(income);

-- title: order by all
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY ALL;

-- title: offset
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district LIMIT 1 OFFSET 2;

-- title: limit expression and negative limit
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents LIMIT 1 + 1;

-- title: negative limit
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents LIMIT -1;

-- title: limit percent
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents LIMIT 10%;

-- title: expressions in the select list
-- expect: construct_not_allowed
SELECT SUM(income) / 100, CASE WHEN COUNT(*) > 5 THEN 1 END, 42 FROM residents;

-- title: aggregate filter clause
-- expect: construct_not_allowed
SELECT COUNT(*) FILTER (WHERE sex = 'F') FROM residents;

-- title: column to column comparison
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district = sex;

-- title: ilike and regular expressions
-- expect: construct_not_allowed, function_not_allowed
SELECT COUNT(*) FROM residents WHERE district ILIKE 'h%' OR regexp_matches(district, '^H');

-- title: bare column as a condition
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district;

-- title: string literals as aliases
-- expect: construct_not_allowed
SELECT COUNT(*) AS 'n' FROM residents AS 'r';

-- title: aggregate column in where
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE income > 100000;

-- title: aggregate column grouped and output
-- expect: level_violation
SELECT income, COUNT(*) FROM residents GROUP BY income;

-- title: compare column as group key
-- expect: level_violation
SELECT birth_date, COUNT(*) FROM residents GROUP BY birth_date;

-- title: like on a compare column
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE birth_date LIKE '19%';

-- title: join key outside count distinct
-- expect: level_violation
SELECT SUM(resident_id), COUNT(*) FROM residents WHERE resident_id = 'R0001';

-- title: count distinct of a column that is not the privacy unit
-- expect: level_violation
SELECT COUNT(DISTINCT district), SUM(district) FROM residents;

-- title: output alias shadowing a column
-- expect: ambiguous_name
SELECT sex AS district, COUNT(*) FROM residents GROUP BY sex ORDER BY district;

-- title: duplicate output names
-- expect: duplicate_output_name
SELECT SUM(income), SUM(income) FROM residents;

-- title: duplicate output names differing in case
-- expect: duplicate_output_name
SELECT COUNT(*) AS n, SUM(income) AS N FROM residents;

-- title: reserved output name
-- expect: reserved_output_name
SELECT COUNT(*) AS __units FROM residents;

-- title: chinese hidden column unquoted
-- expect: hidden_column, raw_projection
SELECT 姓名 FROM 居民;

-- title: chinese hidden column quoted in where
-- expect: hidden_column
SELECT "区", COUNT(*) FROM "居民" WHERE "姓名" = '张三' GROUP BY "区";

-- title: chinese aggregate column as group key
-- expect: level_violation
SELECT 收入, COUNT(*) FROM 居民 GROUP BY 收入;

-- title: two statements
-- expect: multiple_statements
SELECT 1; SELECT 2;

-- title: select then copy
-- expect: multiple_statements
SELECT COUNT(*) FROM residents; COPY residents TO 'out.csv';

-- title: parse error
-- expect: parse_error
SELECT COUNT(* FROM residents;

-- title: copy
-- expect: not_a_query
COPY residents TO 'residents.csv';

-- title: copy from a query
-- expect: not_a_query
COPY (SELECT * FROM residents) TO 'residents.parquet' (FORMAT PARQUET);

-- title: attach
-- expect: not_a_query
ATTACH 'other.db' AS other;

-- title: install
-- expect: not_a_query
INSTALL httpfs;

-- title: load
-- expect: not_a_query
LOAD httpfs;

-- title: set
-- expect: not_a_query
SET enable_external_access = true;

-- title: pragma
-- expect: not_a_query
PRAGMA table_info('residents');

-- title: call
-- expect: not_a_query
CALL pragma_version();

-- title: export
-- expect: not_a_query
EXPORT DATABASE 'dump';

-- title: create
-- expect: not_a_query
CREATE TABLE copy_of AS SELECT * FROM residents;

-- title: insert
-- expect: not_a_query
INSERT INTO residents VALUES (1);

-- title: update
-- expect: not_a_query
UPDATE residents SET income = 0;

-- title: delete
-- expect: not_a_query
DELETE FROM residents;

-- title: drop
-- expect: not_a_query
DROP TABLE residents;

-- title: describe
-- expect: not_a_query
DESCRIBE residents;

-- title: show
-- expect: not_a_query
SHOW TABLES;

-- title: summarize
-- expect: not_a_query
SUMMARIZE residents;

-- title: explain
-- expect: not_a_query
EXPLAIN SELECT COUNT(*) FROM residents;

-- title: with then insert
-- expect: not_a_query
WITH t AS (SELECT 1) INSERT INTO residents SELECT * FROM t;

-- title: read_csv
-- expect: table_function, construct_not_allowed
SELECT * FROM read_csv('/etc/passwd');

-- title: read_parquet
-- expect: table_function
SELECT COUNT(*) FROM read_parquet('s3://bucket/file.parquet');

-- title: file path as table
-- expect: table_function
SELECT COUNT(*) FROM 'residents.csv';

-- title: glob
-- expect: table_function
SELECT COUNT(*) FROM glob('/data/*');

-- title: range
-- expect: table_function
SELECT COUNT(*) FROM range(10);

-- title: generate_series
-- expect: table_function
SELECT COUNT(*) FROM generate_series(1, 10);

-- title: duckdb catalog function
-- expect: table_function
SELECT COUNT(*) FROM duckdb_settings();

-- title: select without from
-- expect: construct_not_allowed
SELECT 1;

-- title: table name as qualifier once the table has an alias
-- expect: unknown_column
SELECT COUNT(*) FROM residents AS r WHERE residents.district = 'Haidian';
