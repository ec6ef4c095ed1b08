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

-- title: sum of an expression and avg distinct
-- expect: aggregate_not_allowed
SELECT SUM(income + 1), AVG(DISTINCT age) FROM residents;

-- title: cast of a hidden column
-- expect: function_not_allowed, hidden_column
SELECT CAST(name AS INT) FROM residents;

-- title: try_cast and double colon casts
-- expect: function_not_allowed
SELECT district, TRY_CAST(district AS INT), district::VARCHAR FROM residents GROUP BY district;

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

-- title: subquery in where reading a hidden column
-- expect: construct_not_allowed, hidden_column
SELECT COUNT(*) FROM residents WHERE district IN (SELECT district FROM residents WHERE name = 'x');

-- title: intersect
-- expect: construct_not_allowed, raw_projection
SELECT district FROM residents INTERSECT SELECT district FROM residents;

-- title: except
-- expect: construct_not_allowed, raw_projection
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
SELECT COUNT(*) FROM residents GROUP BY ROLLUP (district), substr(sex, 1, 1);

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

-- title: output named like the release's row mark
-- expect: reserved_output_name
SELECT district, COUNT(*) AS Suppressed FROM residents GROUP BY district;

-- title: output named like a cell flag of the release
-- expect: reserved_output_name
SELECT district, COUNT(*) AS n__flag FROM residents GROUP BY district;

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

-- title: unlisted scalar function in where
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE substr(district, 1, 1) = 'H';

-- title: group by a prefix of the join key
-- expect: level_violation
SELECT COUNT(*) AS n FROM residents GROUP BY substr(resident_id, 1, 6);

-- title: group by a bucket of an aggregate column
-- expect: level_violation
SELECT COUNT(*) AS n FROM residents GROUP BY floor(income / 1000);

-- title: select and group by a bucket of an aggregate column by alias
-- expect: level_violation
SELECT floor(income / 1000) * 1000 AS band, COUNT(*) AS n FROM residents GROUP BY band;

-- title: group by the year of a compare column
-- expect: level_violation
SELECT year(birth_date) AS y, COUNT(*) AS n FROM residents GROUP BY y;

-- title: group by date_trunc of a compare column
-- expect: level_violation
SELECT COUNT(*) AS n FROM residents GROUP BY date_trunc('month', birth_date);

-- title: group by lower of the join key
-- expect: level_violation
SELECT lower(resident_id) AS r, COUNT(*) AS n FROM residents GROUP BY lower(resident_id);

-- title: group by an unlisted function of a group column
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY substr(district, 1, 2);

-- title: group by a concatenation of two group columns
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY district || sex;

-- title: group by the length of a hidden column
-- expect: hidden_column, function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY length(name);

-- title: date_trunc unit taken from a column
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY date_trunc(district, visit_date);

-- title: date_trunc unit not listed
-- expect: construct_not_allowed
SELECT date_trunc('fortnight', visit_date) AS f, COUNT(*) AS n FROM residents GROUP BY f;

-- title: extract of epoch is not a listed part
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY extract(epoch FROM visited_at);

-- title: extract of an unknown part
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents WHERE extract(microseconds FROM visited_at) = 0;

-- title: floor bucketing with different widths
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY floor(year / 5) * 10;

-- title: floor bucketing with a negative width
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY floor(year / -5) * -5;

-- title: integer division by zero
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY household // 0;

-- title: integer division by a column
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY household // year;

-- title: product that is not a bucket
-- expect: construct_not_allowed
SELECT year * 2 AS double_year, COUNT(*) AS n FROM residents GROUP BY double_year;

-- title: floor without the multiplication
-- expect: function_not_allowed
SELECT floor(year / 5) AS y, COUNT(*) AS n FROM residents GROUP BY floor(year / 5);

-- title: coalesce with a column fallback
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY coalesce(district, sex);

-- title: coalesce with two fallbacks
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents WHERE coalesce(district, 'a', 'b') = 'a';

-- title: trim with characters
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY trim(district, 'g');

-- title: cast as a group key
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY CAST(year AS VARCHAR);

-- title: listed transform over an unlisted one
-- expect: function_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY lower(substr(district, 1, 2));

-- title: case key mapping to a column
-- expect: construct_not_allowed
SELECT CASE WHEN district = 'Haidian' THEN sex END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key over two columns
-- expect: construct_not_allowed
SELECT CASE WHEN district = 'Haidian' AND sex = 'F' THEN 'x' ELSE 'y' END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key over a hidden column
-- expect: hidden_column
SELECT CASE WHEN name LIKE 'Z%' THEN 'z' ELSE 'other' END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key over an aggregate column
-- expect: level_violation
SELECT CASE WHEN income > 100000 THEN 'rich' ELSE 'other' END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key over a compare column
-- expect: level_violation
SELECT COUNT(*) AS n FROM residents GROUP BY CASE WHEN birth_date < DATE '1970-01-01' THEN 'old' END;

-- title: case key comparing two columns
-- expect: construct_not_allowed
SELECT CASE WHEN district = sex THEN 1 ELSE 0 END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key with an unlisted function in its condition
-- expect: function_not_allowed
SELECT CASE WHEN length(district) > 5 THEN 'long' END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: case key with an error in its result
-- expect: construct_not_allowed
SELECT CASE WHEN district = 'x' THEN 1 / 0 ELSE 1 END AS k, COUNT(*) AS n FROM residents GROUP BY k;

-- title: derived key not grouped
-- expect: raw_projection
SELECT lower(district) AS d, COUNT(*) AS n FROM residents GROUP BY district;

-- title: derived key grouped by another transform
-- expect: raw_projection
SELECT lower(district) AS d, COUNT(*) AS n FROM residents GROUP BY upper(district);

-- title: derived key named like its own column
-- expect: ambiguous_name
SELECT lower(district) AS district, COUNT(*) AS n FROM residents GROUP BY lower(district);

-- title: derived key named like another column
-- expect: ambiguous_name
SELECT year(visit_date) AS year, COUNT(*) AS n FROM residents GROUP BY year(visit_date);

-- title: group column aliased as another column
-- expect: ambiguous_name
SELECT sex AS district, COUNT(*) AS n FROM residents GROUP BY sex;

-- title: group by the alias of an aggregate
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district, n;

-- title: group by an aggregate expression
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY CASE WHEN COUNT(*) > 1 THEN 'a' END;

-- title: group by the alias of an unlisted function
-- expect: function_not_allowed
SELECT substr(district, 1, 2) AS p, COUNT(*) AS n FROM residents GROUP BY p;

-- title: group by the alias of a join key prefix
-- expect: function_not_allowed, level_violation
SELECT substr(resident_id, 1, 4) AS p, COUNT(*) AS n FROM residents GROUP BY p;

-- title: group by a list function
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents GROUP BY list_value(district);

-- title: transform of the join key in where
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE upper(resident_id) = 'R0001';

-- title: bucket of an aggregate column in where
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE floor(income / 1000) * 1000 = 5000;

-- title: transform of a hidden column in where
-- expect: hidden_column
SELECT COUNT(*) FROM residents WHERE year(name) = 1990;

-- title: transformed columns compared with each other
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE year(birth_date) = year(visit_date);

-- title: transformed column compared with a column
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE lower(district) = sex;

-- title: case in a where test
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE CASE WHEN district = 'Haidian' THEN 1 ELSE 0 END = 1;

-- title: lower of a compare column in like
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE lower(birth_date) LIKE '19%';

-- title: function on the literal side
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE lower(district) = upper('haidian');

-- title: transform of an aggregate column in a list test
-- expect: level_violation
SELECT COUNT(*) FROM residents WHERE dayofweek(income) IN (1, 2);

-- title: date arithmetic on the literal side
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE visit_date = DATE '2023-01-01' + INTERVAL 1 DAY;

-- title: cast on the literal side of a transform
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE date_trunc('month', visit_date) = '2023-01-01'::DATE;

-- title: collate
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district = 'haidian' COLLATE nocase;

-- title: glob and similar to
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district GLOB 'H*' OR district SIMILAR TO 'H.*';

-- title: exists subquery
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE EXISTS (SELECT 1 FROM residents WHERE district = 'x');

-- title: stddev of a group column
-- expect: level_violation
SELECT STDDEV(district) FROM residents;

-- title: variance of the join key
-- expect: level_violation
SELECT VAR_POP(resident_id) FROM residents;

-- title: count of a group column
-- expect: level_violation
SELECT COUNT(district) FROM residents;

-- title: count of a hidden column
-- expect: hidden_column
SELECT COUNT(phone) FROM residents;

-- title: stddev distinct and of an expression
-- expect: aggregate_not_allowed
SELECT STDDEV(DISTINCT income), VARIANCE(income * 2) FROM residents;

-- title: stddev with a filter
-- expect: construct_not_allowed
SELECT STDDEV(income) FILTER (WHERE sex = 'F') FROM residents;

-- title: min and max of a group column
-- expect: aggregate_not_allowed
SELECT MIN(district), MAX(sex) FROM residents;

-- title: max of a compare column
-- expect: aggregate_not_allowed
SELECT MAX(birth_date) FROM residents;

-- title: min of the join key
-- expect: aggregate_not_allowed
SELECT MIN(resident_id) FROM residents;

-- title: arg min of public columns
-- expect: aggregate_not_allowed
SELECT arg_min(year, visited_at) FROM residents;

-- title: continuous quantile
-- expect: aggregate_not_allowed
SELECT quantile_cont(income, 0.5) FROM residents;

-- title: percentile cont within group
-- expect: aggregate_not_allowed
SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY income) FROM residents;

-- title: discrete quantiles and median
-- expect: aggregate_not_allowed
SELECT quantile_disc(income, 0.9), quantile(age, 0.5), median(spend), approx_quantile(income, 0.5) FROM residents;

-- title: raw value aggregates of a public column
-- expect: aggregate_not_allowed
SELECT first(year), last(year), any_value(year), mode(year), list(year), string_agg(district, ',') FROM residents;

-- title: histogram and top k
-- expect: function_not_allowed, aggregate_not_allowed
SELECT histogram(income), approx_top_k(district, 3) FROM residents;

-- title: statistics over two columns and moments
-- expect: aggregate_not_allowed
SELECT corr(income, age), kurtosis(income), skewness(age), bit_or(income) FROM residents;

-- title: conditional count by summing ones
-- expect: aggregate_not_allowed
SELECT SUM(CASE WHEN sex = 'F' THEN 1 ELSE 0 END) FROM residents;

-- title: conditional sum with a non zero else
-- expect: aggregate_not_allowed
SELECT SUM(CASE WHEN sex = 'F' THEN income ELSE 1 END) FROM residents;

-- title: conditional sum with a column in else
-- expect: aggregate_not_allowed
SELECT SUM(CASE WHEN sex = 'F' THEN income ELSE age END) FROM residents;

-- title: conditional sum of two columns
-- expect: aggregate_not_allowed
SELECT SUM(CASE WHEN sex = 'F' THEN income WHEN sex = 'M' THEN age END) FROM residents;

-- title: conditional sum with a condition on an aggregate column
-- expect: level_violation
SELECT SUM(CASE WHEN income > 100000 THEN income END) FROM residents;

-- title: conditional sum with a condition on a hidden column
-- expect: hidden_column
SELECT SUM(CASE WHEN name = 'Zhang San' THEN income END) FROM residents;

-- title: conditional sum with a condition on the join key
-- expect: level_violation
SELECT AVG(CASE WHEN resident_id = 'R0001' THEN income END) FROM residents;

-- title: conditional sum of a group column
-- expect: level_violation
SELECT SUM(CASE WHEN sex = 'F' THEN year END) FROM residents;

-- title: conditional stddev
-- expect: aggregate_not_allowed
SELECT STDDEV(CASE WHEN sex = 'F' THEN income END) FROM residents;

-- title: conditional count
-- expect: aggregate_not_allowed
SELECT COUNT(CASE WHEN sex = 'F' THEN income END) FROM residents;

-- title: simple case in a sum
-- expect: aggregate_not_allowed
SELECT SUM(CASE sex WHEN 'F' THEN income END) FROM residents;

-- title: conditional sum comparing two columns
-- expect: construct_not_allowed
SELECT SUM(CASE WHEN district = sex THEN income END) FROM residents;

-- title: if instead of case in a sum
-- expect: aggregate_not_allowed
SELECT SUM(IF(sex = 'F', income, 0)) FROM residents;

-- title: columns inside an aggregate
-- expect: construct_not_allowed
SELECT SUM(COLUMNS('inc.*')) FROM residents;

-- title: table statement
-- expect: not_a_query
TABLE residents;

-- title: unpivot statement
-- expect: construct_not_allowed
UNPIVOT residents ON income INTO NAME k VALUE v;

-- title: unpivot in from
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents UNPIVOT (v FOR k IN (income));

-- title: star exclude
-- expect: construct_not_allowed, hidden_column
SELECT * EXCLUDE (name) FROM residents;

-- title: star replace
-- expect: construct_not_allowed
SELECT * REPLACE (lower(district) AS district) FROM residents;

-- title: star like
-- expect: construct_not_allowed
SELECT * LIKE 'inc%' FROM residents;

-- title: create macro
-- expect: not_a_query
CREATE MACRO twice(x) AS x * 2;

-- title: create view
-- expect: not_a_query
CREATE VIEW v AS SELECT district FROM residents;

-- title: create secret
-- expect: not_a_query
CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v');

-- title: alter
-- expect: not_a_query
ALTER TABLE residents ADD COLUMN x INTEGER;

-- title: merge
-- expect: not_a_query
MERGE INTO residents USING residents AS s ON residents.year = s.year WHEN MATCHED THEN DELETE;

-- title: truncate
-- expect: not_a_query
TRUNCATE residents;

-- title: reset
-- expect: not_a_query
RESET threads;

-- title: detach
-- expect: not_a_query
DETACH other;

-- title: force install
-- expect: not_a_query
FORCE INSTALL httpfs;

-- title: use
-- expect: not_a_query
USE memory;

-- title: checkpoint
-- expect: not_a_query
CHECKPOINT;

-- title: vacuum
-- expect: not_a_query
VACUUM;

-- title: begin transaction
-- expect: not_a_query
BEGIN TRANSACTION;

-- title: prepare
-- expect: not_a_query
PREPARE q AS SELECT COUNT(*) FROM residents WHERE district = ?;

-- title: execute
-- expect: not_a_query
EXECUTE q('Haidian');

-- title: values statement
-- expect: not_a_query
VALUES (1, 'a'), (2, 'b');

-- title: explain analyze
-- expect: not_a_query
EXPLAIN ANALYZE SELECT COUNT(*) FROM residents;

-- title: describe a query
-- expect: not_a_query
DESCRIBE SELECT district FROM residents;

-- title: show a table
-- expect: not_a_query
SHOW residents;

-- title: select into
-- expect: construct_not_allowed
SELECT COUNT(*) INTO counts FROM residents;

-- title: lambda in a list function
-- expect: function_not_allowed
SELECT district, list_transform([1, 2], x -> x + 1) AS l FROM residents GROUP BY district;

-- title: python style lambda
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE list_contains(list_filter([2019, 2020], lambda y: y > 2019), year);

-- title: list comprehension
-- expect: construct_not_allowed
SELECT [x * 2 FOR x IN [1, 2]] AS l, COUNT(*) FROM residents;

-- title: struct literal
-- expect: construct_not_allowed
SELECT {'a': 1} AS s, COUNT(*) FROM residents;

-- title: struct field access
-- expect: unknown_column
SELECT COUNT(*) FROM residents WHERE district.first = 'H';

-- title: struct extract function
-- expect: function_not_allowed
SELECT COUNT(*) FROM residents WHERE struct_extract(district, 'a') = 'H';

-- title: subscript
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district[1] = 'H';

-- title: json arrow operators
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district ->> '$.a' = 'x' OR district -> 'b' = 'y';

-- title: positional join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents POSITIONAL JOIN residents AS other;

-- title: asof join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents ASOF JOIN residents AS other ON residents.year >= other.year;

-- title: cross join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents CROSS JOIN residents AS other;

-- title: values in from
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (VALUES (1), (2)) AS v(x);

-- title: unnest in from
-- expect: construct_not_allowed
SELECT COUNT(*) FROM unnest([1, 2, 3]);

-- title: unnest in the select list
-- expect: function_not_allowed
SELECT unnest([1, 2]) AS u, COUNT(*) FROM residents;

-- title: recursive cte
-- expect: construct_not_allowed
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT COUNT(*) FROM t;

-- title: named window
-- expect: construct_not_allowed
SELECT district, COUNT(*) OVER w AS n FROM residents GROUP BY district WINDOW w AS (PARTITION BY district);

-- title: window function over an aggregate column
-- expect: construct_not_allowed
SELECT district, AVG(income) OVER (ORDER BY year ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS m FROM residents GROUP BY district;

-- title: question mark parameter
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district = ?;

-- title: numbered parameter
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE year = $1;

-- title: named parameter
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE district = $area;

-- title: positional column reference
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE year = #1;

-- title: time travel
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AT (VERSION => 1);

-- title: union by name
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district UNION BY NAME SELECT district, COUNT(*) FROM residents GROUP BY district;

-- title: distinct on
-- expect: construct_not_allowed
SELECT DISTINCT ON (district) district, COUNT(*) FROM residents GROUP BY district;

-- title: grouping sets and cube
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents GROUP BY GROUPING SETS ((district), ()), CUBE (sex);

-- title: reservoir sample
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents USING SAMPLE reservoir(10 ROWS);

-- title: system tablesample percent
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents TABLESAMPLE SYSTEM (10%);

-- title: scalar subquery in the select list
-- expect: construct_not_allowed
SELECT (SELECT MAX(income) FROM residents) AS m FROM residents;

-- title: materialized cte
-- expect: construct_not_allowed
WITH t AS MATERIALIZED (SELECT COUNT(*) AS n FROM residents) SELECT COUNT(*) FROM residents;

-- title: text column compared with a number (an error oracle: the cast fails on some values only)
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM residents WHERE district = 5;

-- title: text column compared with a date literal
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM residents WHERE sex > DATE '2020-01-01';

-- title: text column in a list of numbers
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM residents WHERE district IN ('Dongcheng', 2);

-- title: text column between numbers
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM residents WHERE district BETWEEN 1 AND 3;

-- title: lowered text column compared with a boolean
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM residents WHERE lower(sex) = TRUE;

-- title: text column compared with a number inside a conditional aggregate
-- expect: literal_type_mismatch
SELECT SUM(CASE WHEN district = 7 THEN income END) AS s FROM residents;

-- title: text column compared with a number in a CASE group key
-- expect: literal_type_mismatch
SELECT CASE WHEN sex = 1 THEN 'a' ELSE 'b' END AS k, COUNT(*) FROM residents GROUP BY k;

-- title: chinese text column compared with a number
-- expect: literal_type_mismatch
SELECT COUNT(*) FROM 居民 WHERE 区 = 3;

-- title: right outer join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r RIGHT OUTER JOIN visits v ON r.resident_id = v.resident_id;

-- title: full join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r FULL JOIN visits v ON r.resident_id = v.resident_id;

-- title: cross join of two granted tables
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents CROSS JOIN visits;

-- title: comma join of two granted tables
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r, visits v WHERE r.sex = 'F';

-- title: natural join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents NATURAL JOIN visits;

-- title: join using
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents JOIN visits USING (resident_id);

-- title: semi join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r SEMI JOIN visits v ON r.resident_id = v.resident_id;

-- title: anti join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r ANTI JOIN visits v ON r.resident_id = v.resident_id;

-- title: asof join of two granted tables
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r ASOF JOIN visits v ON r.resident_id = v.resident_id AND r.year >= v.year;

-- title: positional join of two granted tables
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents POSITIONAL JOIN visits;

-- title: self join by another alias
-- expect: construct_not_allowed
SELECT COUNT(*) FROM visits a JOIN visits b ON a.resident_id = b.resident_id;

-- title: join of a table not granted
-- expect: unknown_table
SELECT COUNT(*) FROM residents r JOIN patients p ON r.resident_id = p.resident_id;

-- title: join of a table function
-- expect: table_function
SELECT COUNT(*) FROM residents r JOIN read_csv('/etc/passwd') f ON r.resident_id = f.column0;

-- title: lateral join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN LATERAL (SELECT 1 AS one) t ON TRUE;

-- title: join on a group column
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.district = v.clinic;

-- title: join on an aggregate column
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.income = v.cost;

-- title: join on a compare column
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.birth_date = v.year;

-- title: join on a hidden column
-- expect: hidden_column
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id AND r.name = v.diagnosis;

-- title: join key equal to a public column
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.kind;

-- title: join key compared with a literal in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id AND r.resident_id = 'R0001';

-- title: inequality in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id <> v.resident_id;

-- title: range condition in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id AND r.year < v.year;

-- title: or in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id OR r.year = v.year;

-- title: function of the join key in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON lower(r.resident_id) = v.resident_id;

-- title: join key prefix in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON substr(r.resident_id, 1, 4) = substr(v.resident_id, 1, 4);

-- title: null safe equality in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id IS NOT DISTINCT FROM v.resident_id;

-- title: on equality within one table
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = r.resident_id;

-- title: on true
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON TRUE;

-- title: unqualified name in both tables
-- expect: ambiguous_name
SELECT district, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY district;

-- title: unqualified join key in on is ambiguous
-- expect: ambiguous_name
SELECT COUNT(*) FROM residents r JOIN visits v ON resident_id = v.resident_id;

-- title: unqualified shared name in where
-- expect: ambiguous_name
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE year = 2020;

-- title: count distinct of the unit unqualified in a join
-- expect: ambiguous_name
SELECT COUNT(DISTINCT resident_id) FROM residents r JOIN visits v ON r.resident_id = v.resident_id;

-- title: count distinct of another table's non unit column
-- expect: level_violation
SELECT COUNT(DISTINCT v.clinic) FROM residents r JOIN visits v ON r.resident_id = v.resident_id;

-- title: join key of the second table projected
-- expect: level_violation
SELECT v.resident_id, COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.resident_id;

-- title: join key of the second table in where
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE v.resident_id = 'R0001';

-- title: hidden column of the second table
-- expect: hidden_column
SELECT v.diagnosis, COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.diagnosis;

-- title: aggregate column of the second table as group key
-- expect: level_violation
SELECT v.cost, COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.cost;

-- title: aggregate column of the second table in where
-- expect: level_violation
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE v.cost > 1000;

-- title: min of a protected column of the second table
-- expect: aggregate_not_allowed
SELECT MIN(v.cost) FROM residents r JOIN visits v ON r.resident_id = v.resident_id;

-- title: ungranted column of the second table
-- expect: column_not_granted
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE v.secret_col = 's';

-- title: unknown column of the second table
-- expect: unknown_column
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE v.income > 1;

-- title: table name qualifier after an alias in a join
-- expect: unknown_column
SELECT COUNT(*) FROM residents r JOIN visits v ON residents.resident_id = v.resident_id;

-- title: duplicate alias in a join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents x JOIN visits x ON x.resident_id = x.resident_id;

-- title: column to column comparison across tables in where
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE r.year = v.year;

-- title: case over columns of two tables
-- expect: construct_not_allowed
SELECT CASE WHEN r.sex = 'F' AND v.clinic = 'North' THEN 'a' ELSE 'b' END AS k, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY k;

-- title: conditional sum over columns of two tables
-- expect: aggregate_not_allowed
SELECT SUM(CASE WHEN r.sex = 'F' THEN v.cost WHEN r.sex = 'M' THEN r.income END) FROM residents r JOIN visits v ON r.resident_id = v.resident_id;

-- title: third join not connected to the joined table
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = v.resident_id JOIN districts d ON r.year = v.year;

-- title: on referring to a later table
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON v.year = d.census_year JOIN districts d ON d.census_year = r.year;

-- title: output alias taking a column name of the other table
-- expect: ambiguous_name
SELECT r.sex AS clinic, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.sex;

-- title: subquery in on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = (SELECT MAX(resident_id) FROM visits);

-- title: cte renaming a hidden column into an output
-- expect: hidden_column
WITH t AS (SELECT name AS n FROM residents) SELECT n, COUNT(*) AS c FROM t GROUP BY n;

-- title: derived table renaming a hidden column into a filter
-- expect: hidden_column
SELECT COUNT(*) AS c FROM (SELECT phone AS p, district FROM residents) AS x WHERE p = '555';

-- title: cte renaming an aggregate column into a group key
-- expect: level_violation
WITH t AS (SELECT income AS d FROM residents) SELECT d, COUNT(*) FROM t GROUP BY d;

-- title: cte renaming the join key into a group key
-- expect: level_violation
WITH t AS (SELECT resident_id AS k FROM residents) SELECT k, COUNT(*) AS c FROM t GROUP BY k;

-- title: derived table renaming an aggregate column as a group column name
-- expect: level_violation, ambiguous_name
SELECT district, COUNT(*) AS c FROM (SELECT income AS district FROM residents) AS x GROUP BY district;

-- title: cte renaming an aggregate column into a raw output
-- expect: raw_projection, level_violation
WITH t AS (SELECT age AS a, district FROM residents) SELECT district, a FROM t GROUP BY district;

-- title: chained ctes laundering a hidden column
-- expect: hidden_column
WITH a AS (SELECT name AS x FROM residents), b AS (SELECT x AS y FROM a) SELECT y, COUNT(*) AS c FROM b GROUP BY y;

-- title: cte with a transform of the join key
-- expect: function_not_allowed, level_violation
WITH t AS (SELECT substr(resident_id, 1, 2) AS p FROM residents) SELECT p, COUNT(*) AS c FROM t GROUP BY p;

-- title: cte renaming a group column output without grouping
-- expect: raw_projection
WITH t AS (SELECT district AS d FROM residents) SELECT d FROM t;

-- title: aggregating cte
-- expect: construct_not_allowed
WITH t AS (SELECT district, COUNT(*) AS c FROM residents GROUP BY district) SELECT COUNT(*) FROM t;

-- title: nested aggregation in a derived table
-- expect: construct_not_allowed
SELECT AVG(c) AS mean FROM (SELECT district, COUNT(*) AS c FROM residents GROUP BY district) AS t;

-- title: cte used twice
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district, resident_id FROM residents) SELECT COUNT(*) FROM t JOIN t AS u ON t.resident_id = u.resident_id;

-- title: unused cte
-- expect: construct_not_allowed
WITH t AS (SELECT district FROM residents) SELECT COUNT(*) FROM residents;

-- title: distinct inside a cte
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT DISTINCT district FROM residents) SELECT COUNT(*) FROM t;

-- title: limit inside a derived table
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT district FROM residents LIMIT 5) AS t;

-- title: window function inside a cte
-- expect: construct_not_allowed, raw_projection
WITH t AS (SELECT district, row_number() OVER () AS r FROM residents) SELECT COUNT(*) FROM t;

-- title: union inside a cte
-- expect: raw_projection
WITH t AS (SELECT district FROM residents UNION ALL SELECT district FROM visits) SELECT COUNT(*) FROM t;

-- title: star inside a cte
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT * FROM residents) SELECT district, COUNT(*) FROM t GROUP BY district;

-- title: cte with a column list
-- expect: unknown_table, construct_not_allowed
WITH t(d) AS (SELECT district FROM residents) SELECT d, COUNT(*) FROM t GROUP BY d;

-- title: cte shadowing a granted table name
-- expect: construct_not_allowed
WITH residents AS (SELECT district FROM residents) SELECT COUNT(*) FROM residents;

-- title: cte reading a table not granted
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district FROM secret_table) SELECT COUNT(*) FROM t;

-- title: cte reading a table function
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district FROM read_csv('residents.csv')) SELECT COUNT(*) FROM t;

-- title: derived table reading a table function
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT * FROM range(10)) AS t;

-- title: cte with a subquery in where
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district FROM residents) SELECT COUNT(*) FROM t WHERE district IN (SELECT district FROM residents);

-- title: cte with a subquery in select
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district FROM residents) SELECT (SELECT 1) AS x, COUNT(*) FROM t;

-- title: derived table with a subquery in its where
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT district FROM residents WHERE year > (SELECT 1990)) AS t;

-- title: correlated subquery over a cte
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district, year FROM residents) SELECT COUNT(*) FROM t WHERE EXISTS (SELECT 1 FROM visits v WHERE v.district = t.district);

-- title: join inside a derived table
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT r.district FROM residents r JOIN visits v ON r.resident_id = v.resident_id) AS t;

-- title: filtered derived table on the right of a join
-- expect: construct_not_allowed
SELECT v.clinic, COUNT(*) AS n FROM visits v JOIN (SELECT resident_id FROM residents WHERE sex = 'F') AS r ON r.resident_id = v.resident_id GROUP BY v.clinic;

-- title: cte referring to a column it does not select
-- expect: unknown_table, construct_not_allowed
WITH t AS (SELECT district FROM residents) SELECT district, COUNT(*) FROM t WHERE sex = 'F' GROUP BY district;

-- title: derived table without an alias
-- expect: construct_not_allowed
SELECT COUNT(*) FROM (SELECT district FROM residents);

-- title: cte filtering on an aggregate column
-- expect: level_violation
WITH t AS (SELECT district FROM residents WHERE income > 100000) SELECT district, COUNT(*) AS c FROM t GROUP BY district;


-- title: hidden column named in a cte the outer query never uses
-- expect: hidden_column
WITH t AS (SELECT name FROM residents) SELECT COUNT(*) FROM t;

-- title: hidden column renamed in a cte beside a used column
-- expect: hidden_column
WITH t AS (SELECT district, name AS n FROM residents) SELECT district, COUNT(*) FROM t GROUP BY district;

-- title: ungranted column in an unused cte column
-- expect: column_not_granted
WITH t AS (SELECT secret_col FROM residents) SELECT COUNT(*) FROM t;

-- title: hidden column in an unused derived table column
-- expect: hidden_column
SELECT COUNT(*) FROM (SELECT phone FROM residents) x;

-- title: like on a number column
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents WHERE year LIKE '20%';

-- title: having on count of rows
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district HAVING COUNT(*) > 3;

-- title: having on the alias of an aggregate
-- expect: construct_not_allowed
SELECT district, SUM(income) AS s FROM residents GROUP BY district HAVING s > 1000000;

-- title: having on a one person sum
-- expect: construct_not_allowed
SELECT district, SUM(income) FROM residents GROUP BY district HAVING SUM(income) > 1000000 AND district = 'Daxing';

-- title: having on a column outside group by
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district HAVING sex = 'F';

-- title: having on a grouped key with a wrong literal type
-- expect: literal_type_mismatch
SELECT district, COUNT(*) FROM residents GROUP BY district HAVING district = 5;

-- title: having with a window function
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district HAVING rank() OVER (ORDER BY district) = 1;

-- title: outer filter on an aggregate output of a cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n FROM a WHERE n = 1;

-- title: outer filter on an aggregate output of a derived table
-- expect: construct_not_allowed
SELECT * FROM (SELECT sex, SUM(income) AS s FROM residents GROUP BY sex) AS t WHERE s > 5;

-- title: outer filter on a key with a wrong literal type
-- expect: literal_type_mismatch
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT * FROM a WHERE district = 5;

-- title: outer filter with a subquery
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT * FROM a WHERE district IN (SELECT district FROM districts);

-- title: outer filter on an unknown output
-- expect: unknown_column
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district FROM a WHERE income > 3;

-- title: outer filter below a limit
-- expect: construct_not_allowed
SELECT * FROM (SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY n LIMIT 2) AS t WHERE district = 'Haidian';

-- title: aggregate over an aggregating derived table
-- expect: construct_not_allowed
SELECT SUM(n) FROM (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) AS t;

-- title: expression over an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n * 2 AS m FROM a;

-- title: group by over an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, COUNT(*) FROM a GROUP BY district;

-- title: join with an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT a.district, a.n FROM a JOIN districts AS d ON a.district = d.district;

-- title: distinct over an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT DISTINCT n FROM a;

-- title: offset over an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district FROM a LIMIT 1 OFFSET 1;

-- title: recursive aggregating cte
-- expect: construct_not_allowed
WITH RECURSIVE a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT * FROM a;

-- title: column list on an aggregating cte
-- expect: construct_not_allowed
WITH a(k, m) AS (SELECT district, COUNT(*) FROM residents GROUP BY district) SELECT k, m FROM a;

-- title: hidden column inside an aggregating cte
-- expect: hidden_column
WITH a AS (SELECT name, COUNT(*) AS n FROM residents GROUP BY name) SELECT n FROM a;

-- title: reserved output name over an aggregating cte
-- expect: reserved_output_name
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n AS __units FROM a;

-- title: duplicate output name over an aggregating cte
-- expect: duplicate_output_name
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n, n FROM a;

-- title: order by an expression over an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n FROM a ORDER BY n + 1;

-- title: intersect of aggregate queries
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district INTERSECT SELECT district, COUNT(*) FROM residents WHERE sex = 'F' GROUP BY district;

-- title: except of aggregate queries
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district EXCEPT SELECT district, COUNT(*) FROM residents WHERE sex = 'F' GROUP BY district;

-- title: intersect inside a cte
-- expect: construct_not_allowed
WITH u AS (SELECT COUNT(*) AS n FROM residents INTERSECT SELECT COUNT(*) FROM visits) SELECT n FROM u;

-- title: union of a count and a sum
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district UNION ALL SELECT district, SUM(income) FROM residents GROUP BY district;

-- title: union of a key and an aggregate
-- expect: construct_not_allowed
SELECT district FROM residents GROUP BY district UNION ALL SELECT COUNT(*) FROM residents;

-- title: union of different widths
-- expect: construct_not_allowed
SELECT district, COUNT(*) FROM residents GROUP BY district UNION ALL SELECT COUNT(*) FROM residents;

-- title: union all by name of totals
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents UNION ALL BY NAME SELECT COUNT(*) AS n FROM visits;

-- title: union branch with a raw projection
-- expect: level_violation, raw_projection
SELECT COUNT(*) FROM residents UNION ALL SELECT income FROM residents;

-- title: union branch with a hidden column
-- expect: hidden_column
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(name) FROM residents;

-- title: union ordered by an expression
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(*) FROM visits ORDER BY COUNT(*);

-- title: union with offset
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(*) FROM visits LIMIT 1 OFFSET 1;

-- title: union with a limit expression
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(*) FROM visits LIMIT 1 + 1;

-- title: filter over a limited union
-- expect: construct_not_allowed
SELECT * FROM (SELECT district AS k, COUNT(*) AS n FROM residents GROUP BY district UNION ALL SELECT sex, COUNT(*) FROM residents GROUP BY sex LIMIT 3) AS u WHERE k = 'F';

-- title: outer filter on an aggregate of a union
-- expect: construct_not_allowed
SELECT * FROM (SELECT district AS k, COUNT(*) AS n FROM residents GROUP BY district UNION ALL SELECT sex, COUNT(*) FROM residents GROUP BY sex) AS u WHERE n < 5;

-- title: union of raw rows
-- expect: raw_projection
SELECT district FROM residents UNION ALL SELECT clinic FROM visits;

-- title: window function in the select list over grouped data
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n, rank() OVER (ORDER BY COUNT(*)) AS r FROM residents GROUP BY district;

-- title: window function in qualify over grouped data
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district QUALIFY row_number() OVER (ORDER BY COUNT(*)) = 1;

-- title: window function in order by
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY rank() OVER (ORDER BY district);

-- title: window function inside an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n, rank() OVER (ORDER BY COUNT(*)) AS r FROM residents GROUP BY district) SELECT district, n FROM a;

-- title: window function over the outputs of an aggregating cte
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, rank() OVER (ORDER BY n) AS r FROM a;

-- title: window function in a union branch
-- expect: construct_not_allowed
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT row_number() OVER () FROM residents;

-- title: window function in an outer filter
-- expect: construct_not_allowed
WITH a AS (SELECT district, COUNT(*) AS n FROM residents GROUP BY district) SELECT district, n FROM a WHERE rank() OVER (ORDER BY n) = 1;

-- title: named window over grouped data
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district WINDOW w AS (ORDER BY district);

-- title: right join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS r RIGHT JOIN visits AS v ON r.resident_id = v.resident_id;

-- title: full outer join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS r FULL OUTER JOIN visits AS v ON r.resident_id = v.resident_id;

-- title: left join on a condition that is not an equality
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id AND v.cost > 100;

-- title: left join using
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents LEFT JOIN visits USING (resident_id);

-- title: left join on a group column
-- expect: level_violation
SELECT COUNT(*) FROM residents AS r LEFT JOIN visits AS v ON r.district = v.district;

-- title: left join without on
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS r LEFT JOIN visits AS v;

-- title: left anti join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents AS r ANTI JOIN visits AS v ON r.resident_id = v.resident_id;

-- title: hidden column of a left joined table
-- expect: hidden_column
SELECT r.district, COUNT(v.diagnosis) FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district;

-- title: natural left join
-- expect: construct_not_allowed
SELECT COUNT(*) FROM residents NATURAL LEFT JOIN visits;

-- title: order by an aggregate output the outer query leaves out
-- expect: construct_not_allowed
SELECT d FROM (SELECT district AS d, SUM(income) AS s FROM residents GROUP BY district) AS t ORDER BY s;

-- title: having on a same-named column of the other joined table
-- expect: construct_not_allowed
SELECT r.district, COUNT(*) AS n FROM residents AS r JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district HAVING v.district = 'Haidian';

-- title: order by aggregate alias with limit (order by an aggregate output)
-- expect: construct_not_allowed
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY n DESC, district LIMIT 3;

-- title: order by a derived key descending with limit (order by an aggregate output)
-- expect: construct_not_allowed
SELECT date_trunc('month', visit_date) AS month, COUNT(*) AS n FROM residents GROUP BY month ORDER BY n DESC, month LIMIT 4;

-- title: order by a stddev alias (order by an aggregate output)
-- expect: construct_not_allowed
SELECT district, STDDEV(income) AS sd FROM residents GROUP BY district ORDER BY sd DESC NULLS LAST, district LIMIT 3;

-- title: join with order by an aggregate output and limit (order by an aggregate output)
-- expect: construct_not_allowed
SELECT v.clinic, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.clinic ORDER BY n DESC, v.clinic LIMIT 2;

-- title: cte with order by and limit outside (order by an aggregate output)
-- expect: construct_not_allowed
WITH t AS (SELECT household AS h FROM residents WHERE household IS NOT NULL) SELECT h, COUNT(*) AS n FROM t GROUP BY h ORDER BY n DESC, h LIMIT 3;

-- title: derived table projects some of its outputs (order by an aggregate output)
-- expect: construct_not_allowed
SELECT q.n FROM (SELECT district, COUNT(*) AS n, SUM(spend) AS s FROM residents GROUP BY district) AS q ORDER BY n;

-- title: outer order by a source name it selects under another name (order by an aggregate output)
-- expect: construct_not_allowed
SELECT d AS k, s AS total FROM (SELECT district AS d, SUM(income) AS s FROM residents GROUP BY district) AS t ORDER BY t.s DESC, k;
