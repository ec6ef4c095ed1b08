-- Queries the gate allows. Each case: the operator's SQL ended by `;`, then the expected rewrite ended
-- by `;` (compared after sqlglot normalisation). Options after the title: `-- rows_per_unit: many`
-- runs the case with a grant that does not record one row per unit (default: one row per unit).
-- Every case is executed in DuckDB, original and rewrite, on generated public fixture data.

-- title: count per district
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: default output names for every allowed aggregate
SELECT sex, COUNT(*), COUNT(DISTINCT resident_id), SUM(income), AVG(age) FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "count",
  COUNT(DISTINCT "residents"."resident_id") AS "count_distinct_resident_id",
  SUM("residents"."income") AS "sum_income",
  AVG("residents"."age") AS "avg_age",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_3",
  COUNT("residents"."age") AS "__units_4"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: many rows per unit count distinct units
-- rows_per_unit: many
SELECT sex, COUNT(*), COUNT(DISTINCT resident_id), SUM(income), AVG(age) FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "count",
  COUNT(DISTINCT "residents"."resident_id") AS "count_distinct_resident_id",
  SUM("residents"."income") AS "sum_income",
  AVG("residents"."age") AS "avg_age",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_3",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_4"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: aggregates without group by give one row
SELECT COUNT(*) AS n, SUM(income) AS total FROM residents;
SELECT
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents";

-- title: filter that matches nothing still gives one row
-- rows_per_unit: many
SELECT COUNT(*) AS n, AVG(income) AS mean FROM residents WHERE year = 1900;
SELECT
  COUNT(*) AS "n",
  AVG("residents"."income") AS "mean",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_1"
FROM "residents"
WHERE
  "residents"."year" = 1900;

-- title: compare column with typed date literals
SELECT district, AVG(income) AS mean_income
FROM residents
WHERE birth_date >= DATE '1960-01-01' AND birth_date < DATE '1990-01-01'
GROUP BY district
ORDER BY district;
SELECT
  "residents"."district" AS "district",
  AVG("residents"."income") AS "mean_income",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  "residents"."birth_date" >= CAST('1960-01-01' AS DATE)
  AND "residents"."birth_date" < CAST('1990-01-01' AS DATE)
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: timestamp literal and literal on the left
SELECT year, COUNT(*) AS n FROM residents WHERE birth_date < TIMESTAMP '1980-06-30 12:00:00' AND 2019 <= year GROUP BY year ORDER BY year;
SELECT
  "residents"."year" AS "year",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."birth_date" < CAST('1980-06-30 12:00:00' AS TIMESTAMP)
  AND 2019 <= "residents"."year"
GROUP BY
  "residents"."year"
ORDER BY
  "year";

-- title: in list not in and between
SELECT district, SUM(income) AS total FROM residents
WHERE district IN ('Dongcheng', 'Xicheng', 'Haidian') AND year NOT IN (2018) AND year BETWEEN 2019 AND 2022
GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  "residents"."district" IN ('Dongcheng', 'Xicheng', 'Haidian')
  AND NOT "residents"."year" IN (2018)
  AND "residents"."year" BETWEEN 2019 AND 2022
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: not between is null or and not
-- rows_per_unit: many
SELECT sex, COUNT(DISTINCT resident_id) AS people FROM residents
WHERE (district IS NOT NULL OR sex = 'F') AND NOT year = 2021 AND year NOT BETWEEN 2022 AND 2023 AND district IS NOT NULL
GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(DISTINCT "residents"."resident_id") AS "people",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
WHERE
  (
    NOT "residents"."district" IS NULL OR "residents"."sex" = 'F'
  )
  AND NOT "residents"."year" = 2021
  AND NOT "residents"."year" BETWEEN 2022 AND 2023
  AND NOT "residents"."district" IS NULL
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: like and not like on a group column
SELECT district, COUNT(*) AS n FROM residents WHERE district LIKE '%cheng' AND district NOT LIKE 'X%' GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."district" LIKE '%cheng' AND "residents"."district" NOT LIKE 'X%'
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: table alias and qualified columns
SELECT r.district, SUM(r.income) AS total FROM residents AS r WHERE r.sex = 'M' GROUP BY r.district ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  "residents"."sex" = 'M'
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: quoted and upper case identifiers
SELECT "District", COUNT(*) AS n FROM "RESIDENTS" GROUP BY "District" ORDER BY "District";
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: order by grouped column that is not an output
-- rows_per_unit: many
SELECT COUNT(*) AS n, AVG(income) AS mean FROM residents GROUP BY district, sex ORDER BY district DESC NULLS FIRST, sex;
SELECT
  COUNT(*) AS "n",
  AVG("residents"."income") AS "mean",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district",
  "residents"."sex"
ORDER BY
  "residents"."district" DESC NULLS FIRST,
  "residents"."sex";

-- title: two group keys with a public column
SELECT year, sex, SUM(income) AS total, AVG(income) AS mean FROM residents WHERE year > 2019 GROUP BY year, sex ORDER BY year, sex;
SELECT
  "residents"."year" AS "year",
  "residents"."sex" AS "sex",
  SUM("residents"."income") AS "total",
  AVG("residents"."income") AS "mean",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_2",
  COUNT("residents"."income") AS "__units_3"
FROM "residents"
WHERE
  "residents"."year" > 2019
GROUP BY
  "residents"."year",
  "residents"."sex"
ORDER BY
  "year",
  "sex";

-- title: alias equal to its own column
SELECT district AS district, COUNT(*) AS n FROM residents WHERE district <> 'Daxing' GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."district" <> 'Daxing'
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: group keys without aggregates
SELECT district, sex FROM residents GROUP BY district, sex ORDER BY district, sex;
SELECT
  "residents"."district" AS "district",
  "residents"."sex" AS "sex",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district",
  "residents"."sex"
ORDER BY
  "district",
  "sex";

-- title: comments, lower case keywords and negative numbers
select district, -- the area
       sum(income) as total /* yuan */
from residents
where year >= -5 and sex is not null or district = 'Haidian'
group by district
order by district
limit 10;
SELECT
  "residents"."district" AS "district",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  "residents"."year" >= -5
  AND NOT "residents"."sex" IS NULL
  OR "residents"."district" = 'Haidian'
GROUP BY
  "residents"."district"
ORDER BY
  "district"
LIMIT 10;

-- title: chinese identifiers unquoted
SELECT 区, COUNT(*) AS 人数, SUM(收入) AS 总收入 FROM 居民 GROUP BY 区 ORDER BY 区;
SELECT
  "居民"."区" AS "区",
  COUNT(*) AS "人数",
  SUM("居民"."收入") AS "总收入",
  COUNT(*) AS "__units",
  COUNT("居民"."收入") AS "__units_2"
FROM "居民"
GROUP BY
  "居民"."区"
ORDER BY
  "区";

-- title: chinese identifiers quoted
-- rows_per_unit: many
SELECT "区", AVG("收入") FROM "居民" WHERE "区" <> '东城' GROUP BY "区" ORDER BY "区";
SELECT
  "居民"."区" AS "区",
  AVG("居民"."收入") AS "avg_收入",
  COUNT(DISTINCT "居民"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "居民"."收入" IS NULL THEN "居民"."__unit" END) AS "__units_1"
FROM "居民"
WHERE
  "居民"."区" <> '东城'
GROUP BY
  "居民"."区"
ORDER BY
  "区";

-- title: upper case transform in where
SELECT district, COUNT(*) AS n FROM residents WHERE upper(district) = 'HAIDIAN' GROUP BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  UPPER("residents"."district") = 'HAIDIAN'
GROUP BY
  "residents"."district";

-- title: date_trunc month key grouped by its alias
SELECT date_trunc('month', visit_date) AS month, COUNT(*) AS n FROM residents GROUP BY month ORDER BY month;
SELECT
  DATE_TRUNC('MONTH', "residents"."visit_date") AS "month",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  DATE_TRUNC('MONTH', "residents"."visit_date")
ORDER BY
  "month";

-- title: date_trunc year key grouped by the repeated expression
-- rows_per_unit: many
SELECT date_trunc('year', visit_date) AS visit_year, SUM(income) AS total FROM residents GROUP BY date_trunc('year', visit_date) ORDER BY visit_year;
SELECT
  DATE_TRUNC('YEAR', "residents"."visit_date") AS "visit_year",
  SUM("residents"."income") AS "total",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_1"
FROM "residents"
GROUP BY
  DATE_TRUNC('YEAR', "residents"."visit_date")
ORDER BY
  "visit_year";

-- title: date_trunc of a public timestamp with its default name
SELECT date_trunc('day', visited_at), COUNT(*) AS n FROM residents GROUP BY date_trunc('day', visited_at);
SELECT
  DATE_TRUNC('DAY', "residents"."visited_at") AS "day_visited_at",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  DATE_TRUNC('DAY', "residents"."visited_at");

-- title: date_trunc with an upper case unit
-- rows_per_unit: many
SELECT DATE_TRUNC('QUARTER', visit_date) AS q, COUNT(DISTINCT resident_id) AS people FROM residents GROUP BY q ORDER BY q DESC;
SELECT
  DATE_TRUNC('QUARTER', "residents"."visit_date") AS "q",
  COUNT(DISTINCT "residents"."resident_id") AS "people",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  DATE_TRUNC('QUARTER', "residents"."visit_date")
ORDER BY
  "q" DESC;

-- title: date_trunc week hour and minute units
SELECT date_trunc('week', visited_at) AS w, COUNT(*) AS n FROM residents WHERE date_trunc('hour', visited_at) >= TIMESTAMP '2023-03-01 00:00:00' AND date_trunc('minute', visited_at) < TIMESTAMP '2024-06-01 00:00:00' GROUP BY w ORDER BY w;
SELECT
  DATE_TRUNC('WEEK', "residents"."visited_at") AS "w",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  DATE_TRUNC('HOUR', "residents"."visited_at") >= CAST('2023-03-01 00:00:00' AS TIMESTAMP)
  AND DATE_TRUNC('MINUTE', "residents"."visited_at") < CAST('2024-06-01 00:00:00' AS TIMESTAMP)
GROUP BY
  DATE_TRUNC('WEEK', "residents"."visited_at")
ORDER BY
  "w";

-- title: extract year from a group date
SELECT extract(year FROM visit_date) AS y, AVG(income) AS mean FROM residents GROUP BY y ORDER BY y;
SELECT
  EXTRACT(YEAR FROM "residents"."visit_date") AS "y",
  AVG("residents"."income") AS "mean",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  EXTRACT(YEAR FROM "residents"."visit_date")
ORDER BY
  "y";

-- title: extract with a string part
SELECT extract('dow' FROM visit_date) AS dow, COUNT(*) AS n FROM residents GROUP BY extract('dow' FROM visit_date) ORDER BY dow;
SELECT
  EXTRACT('DAYOFWEEK' FROM "residents"."visit_date") AS "dow",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  EXTRACT('DAYOFWEEK' FROM "residents"."visit_date")
ORDER BY
  "dow";

-- title: extract month from a public timestamp default name
-- rows_per_unit: many
SELECT extract(month FROM visited_at), COUNT(*) AS n FROM residents GROUP BY extract(month FROM visited_at);
SELECT
  EXTRACT(MONTH FROM "residents"."visited_at") AS "month_visited_at",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  EXTRACT(MONTH FROM "residents"."visited_at");

-- title: year function key
-- rows_per_unit: many
SELECT year(visit_date) AS y, COUNT(*) AS n, AVG(age) AS mean_age FROM residents GROUP BY y ORDER BY y;
SELECT
  YEAR("residents"."visit_date") AS "y",
  COUNT(*) AS "n",
  AVG("residents"."age") AS "mean_age",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_2"
FROM "residents"
GROUP BY
  YEAR("residents"."visit_date")
ORDER BY
  "y";

-- title: month and quarter function keys
SELECT quarter(visit_date) AS q, month(visit_date) AS m, COUNT(*) AS n FROM residents GROUP BY q, m ORDER BY q, m;
SELECT
  QUARTER("residents"."visit_date") AS "q",
  MONTH("residents"."visit_date") AS "m",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  QUARTER("residents"."visit_date"),
  MONTH("residents"."visit_date")
ORDER BY
  "q",
  "m";

-- title: dayofweek isodow and dayofyear keys
SELECT dayofweek(visit_date) AS dow, isodow(visit_date) AS iso, COUNT(*) AS n FROM residents WHERE dayofyear(visit_date) <= 200 GROUP BY dow, iso ORDER BY dow;
SELECT
  DAYOFWEEK("residents"."visit_date") AS "dow",
  ISODOW("residents"."visit_date") AS "iso",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  DAYOFYEAR("residents"."visit_date") <= 200
GROUP BY
  DAYOFWEEK("residents"."visit_date"),
  ISODOW("residents"."visit_date")
ORDER BY
  "dow";

-- title: week day and hour keys
SELECT week(visit_date) AS w, COUNT(*) AS n FROM residents WHERE day(visit_date) < 15 AND hour(visited_at) BETWEEN 8 AND 18 GROUP BY w ORDER BY w;
SELECT
  WEEK("residents"."visit_date") AS "w",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  DAY("residents"."visit_date") < 15
  AND HOUR("residents"."visited_at") BETWEEN 8 AND 18
GROUP BY
  WEEK("residents"."visit_date")
ORDER BY
  "w";

-- title: floor bucketing of a public year
SELECT floor(year / 5) * 5 AS five_years, COUNT(*) AS n FROM residents GROUP BY five_years ORDER BY five_years;
SELECT
  FLOOR("residents"."year" / 5) * 5 AS "five_years",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  FLOOR("residents"."year" / 5) * 5
ORDER BY
  "five_years";

-- title: floor bucketing with the width first and its default name
-- rows_per_unit: many
SELECT 2 * floor(household / 2), SUM(income) AS total FROM residents GROUP BY 2 * floor(household / 2);
SELECT
  2 * FLOOR("residents"."household" / 2) AS "bucket_household",
  SUM("residents"."income") AS "total",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_1"
FROM "residents"
GROUP BY
  2 * FLOOR("residents"."household" / 2);

-- title: integer division bucket
SELECT household // 3 AS band, COUNT(*) AS n FROM residents GROUP BY band ORDER BY band;
SELECT
  "residents"."household" // 3 AS "band",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."household" // 3
ORDER BY
  "band";

-- title: integer division bucket times its width
SELECT (household // 4) * 4 AS band, AVG(income) AS mean FROM residents GROUP BY (household // 4) * 4 ORDER BY band;
SELECT
  (
    "residents"."household" // 4
  ) * 4 AS "band",
  AVG("residents"."income") AS "mean",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  (
    "residents"."household" // 4
  ) * 4
ORDER BY
  "band";

-- title: floor bucketing with a decimal width
SELECT floor(year / 2.5) * 2.5 AS band, COUNT(*) AS n FROM residents GROUP BY band ORDER BY band;
SELECT
  FLOOR("residents"."year" / 2.5) * 2.5 AS "band",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  FLOOR("residents"."year" / 2.5) * 2.5
ORDER BY
  "band";

-- title: lower upper and trim keys
SELECT lower(district) AS d, upper(sex) AS s, COUNT(*) AS n FROM residents GROUP BY d, s ORDER BY d, s;
SELECT
  LOWER("residents"."district") AS "d",
  UPPER("residents"."sex") AS "s",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  LOWER("residents"."district"),
  UPPER("residents"."sex")
ORDER BY
  "d",
  "s";

-- title: trim key with its default name
-- rows_per_unit: many
SELECT trim(district), COUNT(*) AS n FROM residents GROUP BY trim(district);
SELECT
  TRIM("residents"."district") AS "trim_district",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  TRIM("residents"."district");

-- title: coalesce key turns null into a literal
SELECT coalesce(district, 'unknown') AS area, COUNT(*) AS n FROM residents GROUP BY area ORDER BY area;
SELECT
  COALESCE("residents"."district", 'unknown') AS "area",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  COALESCE("residents"."district", 'unknown')
ORDER BY
  "area";

-- title: coalesce of a date with a date literal
SELECT coalesce(visit_date, DATE '1900-01-01') AS visited, COUNT(*) AS n FROM residents GROUP BY visited ORDER BY visited LIMIT 5;
SELECT
  COALESCE("residents"."visit_date", CAST('1900-01-01' AS DATE)) AS "visited",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  COALESCE("residents"."visit_date", CAST('1900-01-01' AS DATE))
ORDER BY
  "visited"
LIMIT 5;

-- title: case mapping to literals with else
SELECT CASE WHEN district IN ('Dongcheng', 'Xicheng') THEN 'core' WHEN district IS NULL THEN 'unknown' ELSE 'outer' END AS zone, COUNT(*) AS n, SUM(income) AS total FROM residents GROUP BY zone ORDER BY zone;
SELECT
  CASE
    WHEN "residents"."district" IN ('Dongcheng', 'Xicheng')
    THEN 'core'
    WHEN "residents"."district" IS NULL
    THEN 'unknown'
    ELSE 'outer'
  END AS "zone",
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_2"
FROM "residents"
GROUP BY
  CASE
    WHEN "residents"."district" IN ('Dongcheng', 'Xicheng')
    THEN 'core'
    WHEN "residents"."district" IS NULL
    THEN 'unknown'
    ELSE 'outer'
  END
ORDER BY
  "zone";

-- title: case mapping without else groups the rest as null
-- rows_per_unit: many
SELECT CASE WHEN household BETWEEN 1 AND 2 THEN 'small' WHEN household >= 5 THEN 'large' END AS size, COUNT(*) AS n FROM residents GROUP BY size ORDER BY size;
SELECT
  CASE
    WHEN "residents"."household" BETWEEN 1 AND 2
    THEN 'small'
    WHEN "residents"."household" >= 5
    THEN 'large'
  END AS "size",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  CASE
    WHEN "residents"."household" BETWEEN 1 AND 2
    THEN 'small'
    WHEN "residents"."household" >= 5
    THEN 'large'
  END
ORDER BY
  "size";

-- title: simple case mapping
SELECT CASE sex WHEN 'F' THEN 1 WHEN 'M' THEN 2 END AS code, COUNT(*) AS n FROM residents GROUP BY code ORDER BY code;
SELECT
  CASE "residents"."sex" WHEN 'F' THEN 1 WHEN 'M' THEN 2 END AS "code",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE "residents"."sex" WHEN 'F' THEN 1 WHEN 'M' THEN 2 END
ORDER BY
  "code";

-- title: case mapping with like and not
SELECT CASE WHEN district LIKE '%cheng' AND NOT district = 'Xicheng' THEN 'east' ELSE 'other' END AS part, COUNT(*) AS n FROM residents GROUP BY part ORDER BY part;
SELECT
  CASE
    WHEN "residents"."district" LIKE '%cheng' AND NOT "residents"."district" = 'Xicheng'
    THEN 'east'
    ELSE 'other'
  END AS "part",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE
    WHEN "residents"."district" LIKE '%cheng' AND NOT "residents"."district" = 'Xicheng'
    THEN 'east'
    ELSE 'other'
  END
ORDER BY
  "part";

-- title: case mapping over a transform of a date
SELECT CASE WHEN year(visit_date) = 2023 THEN 'first year' ELSE 'later' END AS period, AVG(income) AS mean FROM residents GROUP BY period ORDER BY period;
SELECT
  CASE WHEN YEAR("residents"."visit_date") = 2023 THEN 'first year' ELSE 'later' END AS "period",
  AVG("residents"."income") AS "mean",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  CASE WHEN YEAR("residents"."visit_date") = 2023 THEN 'first year' ELSE 'later' END
ORDER BY
  "period";

-- title: case mapping repeated in group by with default name
SELECT CASE WHEN year < 2020 THEN 'before' ELSE 'after' END, COUNT(*) AS n FROM residents GROUP BY CASE WHEN year < 2020 THEN 'before' ELSE 'after' END;
SELECT
  CASE WHEN "residents"."year" < 2020 THEN 'before' ELSE 'after' END AS "case_year",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE WHEN "residents"."year" < 2020 THEN 'before' ELSE 'after' END;

-- title: simple case over a transform
-- rows_per_unit: many
SELECT CASE lower(sex) WHEN 'f' THEN 'female' ELSE 'male' END AS s, COUNT(*) AS n FROM residents GROUP BY s ORDER BY s;
SELECT
  CASE LOWER("residents"."sex") WHEN 'f' THEN 'female' ELSE 'male' END AS "s",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  CASE LOWER("residents"."sex") WHEN 'f' THEN 'female' ELSE 'male' END
ORDER BY
  "s";

-- title: composed transforms
SELECT lower(trim(district)) AS d, floor(year(visit_date) / 10) * 10 AS decade, COUNT(*) AS n FROM residents GROUP BY d, decade ORDER BY d, decade;
SELECT
  LOWER(TRIM("residents"."district")) AS "d",
  FLOOR(YEAR("residents"."visit_date") / 10) * 10 AS "decade",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  LOWER(TRIM("residents"."district")),
  FLOOR(YEAR("residents"."visit_date") / 10) * 10
ORDER BY
  "d",
  "decade";

-- title: plain and derived keys together
SELECT district, month(visit_date) AS m, COUNT(*) AS n FROM residents GROUP BY district, m ORDER BY district, m;
SELECT
  "residents"."district" AS "district",
  MONTH("residents"."visit_date") AS "m",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district",
  MONTH("residents"."visit_date")
ORDER BY
  "district",
  "m";

-- title: derived group key that is not an output
SELECT COUNT(*) AS n, SUM(income) AS total FROM residents GROUP BY year(visit_date);
SELECT
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  YEAR("residents"."visit_date");

-- title: group by the alias of a plain column
SELECT district AS area, COUNT(*) AS n FROM residents GROUP BY area ORDER BY area;
SELECT
  "residents"."district" AS "area",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "area";

-- title: derived key over a qualified column matches the unqualified one
SELECT lower(r.district) AS d, COUNT(*) AS n FROM residents AS r GROUP BY lower(district) ORDER BY d;
SELECT
  LOWER("residents"."district") AS "d",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  LOWER("residents"."district")
ORDER BY
  "d";

-- title: chinese case mapping key
SELECT CASE WHEN 区 IN ('东城', '西城') THEN '核心' ELSE '其他' END AS 区域, COUNT(*) AS 人数 FROM 居民 GROUP BY 区域 ORDER BY 区域;
SELECT
  CASE WHEN "居民"."区" IN ('东城', '西城') THEN '核心' ELSE '其他' END AS "区域",
  COUNT(*) AS "人数",
  COUNT(*) AS "__units"
FROM "居民"
GROUP BY
  CASE WHEN "居民"."区" IN ('东城', '西城') THEN '核心' ELSE '其他' END
ORDER BY
  "区域";

-- title: year of a compare column in where
SELECT district, COUNT(*) AS n FROM residents WHERE year(birth_date) >= 1980 GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  YEAR("residents"."birth_date") >= 1980
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: date_trunc of a group date compared with a date
SELECT sex, COUNT(*) AS n FROM residents WHERE date_trunc('month', visit_date) = DATE '2023-06-01' GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  DATE_TRUNC('MONTH', "residents"."visit_date") = CAST('2023-06-01' AS DATE)
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: lower in like
-- rows_per_unit: many
SELECT COUNT(*) AS n FROM residents WHERE lower(district) LIKE '%cheng';
SELECT
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
WHERE
  LOWER("residents"."district") LIKE '%cheng';

-- title: extract between on a compare column
SELECT sex, AVG(income) AS mean FROM residents WHERE extract(year FROM birth_date) BETWEEN 1960 AND 1970 GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  AVG("residents"."income") AS "mean",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  EXTRACT(YEAR FROM "residents"."birth_date") BETWEEN 1960 AND 1970
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: month in a list on a compare column
SELECT COUNT(*) AS n FROM residents WHERE month(birth_date) IN (1, 2, 3) AND quarter(birth_date) <> 4;
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  MONTH("residents"."birth_date") IN (1, 2, 3)
  AND QUARTER("residents"."birth_date") <> 4;

-- title: coalesce in where
SELECT COUNT(*) AS n FROM residents WHERE coalesce(district, 'none') <> 'none';
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  COALESCE("residents"."district", 'none') <> 'none';

-- title: trim and bucket tests
SELECT sex, COUNT(*) AS n FROM residents WHERE trim(sex) = 'F' AND floor(year / 2) * 2 = 2020 GROUP BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  TRIM("residents"."sex") = 'F' AND FLOOR("residents"."year" / 2) * 2 = 2020
GROUP BY
  "residents"."sex";

-- title: literal on the left of a transformed column
SELECT COUNT(*) AS n FROM residents WHERE 1980 <= year(birth_date);
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  1980 <= YEAR("residents"."birth_date");

-- title: transformed column is not null
SELECT COUNT(*) AS n FROM residents WHERE dayofweek(visit_date) IS NOT NULL;
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  NOT DAYOFWEEK("residents"."visit_date") IS NULL;

-- title: integer division in where
SELECT COUNT(*) AS n FROM residents WHERE household // 2 = 2;
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."household" // 2 = 2;

-- title: transforms under or and not
SELECT sex, COUNT(*) AS n FROM residents WHERE quarter(visited_at) = 1 OR NOT (lower(sex) = 'm') GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  QUARTER("residents"."visited_at") = 1 OR NOT (
    LOWER("residents"."sex") = 'm'
  )
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: date_trunc of a compare column in where
SELECT COUNT(*) AS n FROM residents WHERE date_trunc('decade', birth_date) = TIMESTAMP '1970-01-01 00:00:00';
SELECT
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  DATE_TRUNC('DECADE', "residents"."birth_date") = CAST('1970-01-01 00:00:00' AS TIMESTAMP);

-- title: standard deviation and variance family
SELECT sex, STDDEV(income), STDDEV_SAMP(age), STDDEV_POP(income), VARIANCE(income), VAR_SAMP(age), VAR_POP(spend) FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  STDDEV_SAMP("residents"."income") AS "stddev_income",
  STDDEV_SAMP("residents"."age") AS "stddev_samp_age",
  STDDEV_POP("residents"."income") AS "stddev_pop_income",
  VARIANCE("residents"."income") AS "variance_income",
  VARIANCE("residents"."age") AS "var_samp_age",
  VAR_POP("residents"."spend") AS "var_pop_spend",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1",
  COUNT("residents"."age") AS "__units_2",
  COUNT("residents"."income") AS "__units_3",
  COUNT("residents"."income") AS "__units_4",
  COUNT("residents"."age") AS "__units_5",
  COUNT("residents"."spend") AS "__units_6"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: standard deviation and variance with many rows per unit
-- rows_per_unit: many
SELECT district, STDDEV(spend) AS sd, VAR_POP(income) AS v FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  STDDEV_SAMP("residents"."spend") AS "sd",
  VAR_POP("residents"."income") AS "v",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "residents"."spend" IS NULL THEN "residents"."__unit" END) AS "__units_1",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_2"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: stddev without group by
SELECT STDDEV_POP(age) AS sd, VARIANCE(spend) AS v FROM residents;
SELECT
  STDDEV_POP("residents"."age") AS "sd",
  VARIANCE("residents"."spend") AS "v",
  COUNT(*) AS "__units",
  COUNT("residents"."age") AS "__units_0",
  COUNT("residents"."spend") AS "__units_1"
FROM "residents";

-- title: count of an aggregate column
SELECT district, COUNT(income) AS with_income, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT("residents"."income") AS "with_income",
  COUNT(*) AS "n",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: count of an aggregate column with many rows per unit
-- rows_per_unit: many
SELECT sex, COUNT(age), COUNT(DISTINCT resident_id) AS people FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT("residents"."age") AS "count_age",
  COUNT(DISTINCT "residents"."resident_id") AS "people",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: column without nulls reuses the row units
SELECT district, SUM(rooms) AS r, STDDEV(rooms) AS sd, COUNT(rooms) AS c FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  SUM("residents"."rooms") AS "r",
  STDDEV_SAMP("residents"."rooms") AS "sd",
  COUNT("residents"."rooms") AS "c",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: column without nulls reuses the row units with many rows per unit
-- rows_per_unit: many
SELECT sex, AVG(rooms) AS mean, VAR_POP(rooms) AS v FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  AVG("residents"."rooms") AS "mean",
  VAR_POP("residents"."rooms") AS "v",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: conditional sum with else zero
SELECT district, SUM(CASE WHEN sex = 'F' THEN income ELSE 0 END) AS female_income FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  SUM(CASE WHEN "residents"."sex" = 'F' THEN "residents"."income" ELSE 0 END) AS "female_income",
  COUNT(*) AS "__units",
  COUNT(CASE WHEN "residents"."sex" = 'F' THEN "residents"."income" END) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: conditional average without else
-- rows_per_unit: many
SELECT district, AVG(CASE WHEN year >= 2021 THEN income END) AS recent FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  AVG(CASE WHEN "residents"."year" >= 2021 THEN "residents"."income" END) AS "recent",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE
      WHEN NOT CASE WHEN "residents"."year" >= 2021 THEN "residents"."income" END IS NULL
      THEN "residents"."__unit"
    END
  ) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: conditional sum with else null and a transformed condition
SELECT sex, SUM(CASE WHEN year(birth_date) < 1970 AND district IN ('Haidian', 'Daxing') THEN age ELSE NULL END) AS older FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  SUM(
    CASE
      WHEN YEAR("residents"."birth_date") < 1970
      AND "residents"."district" IN ('Haidian', 'Daxing')
      THEN "residents"."age"
      ELSE NULL
    END
  ) AS "older",
  COUNT(*) AS "__units",
  COUNT(
    CASE
      WHEN YEAR("residents"."birth_date") < 1970
      AND "residents"."district" IN ('Haidian', 'Daxing')
      THEN "residents"."age"
    END
  ) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: conditional sum with several branches on one column
-- rows_per_unit: many
SELECT SUM(CASE WHEN sex = 'F' THEN spend WHEN district IS NULL THEN spend ELSE 0.0 END) AS s FROM residents;
SELECT
  SUM(
    CASE
      WHEN "residents"."sex" = 'F'
      THEN "residents"."spend"
      WHEN "residents"."district" IS NULL
      THEN "residents"."spend"
      ELSE 0.0
    END
  ) AS "s",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE
      WHEN NOT CASE
        WHEN "residents"."sex" = 'F'
        THEN "residents"."spend"
        WHEN "residents"."district" IS NULL
        THEN "residents"."spend"
      END IS NULL
      THEN "residents"."__unit"
    END
  ) AS "__units_0"
FROM "residents";

-- title: conditional and plain sums side by side with default names
SELECT year, SUM(income), SUM(CASE WHEN sex = 'M' THEN income END), AVG(CASE WHEN lower(district) LIKE 'x%' THEN income ELSE 0 END) FROM residents GROUP BY year ORDER BY year;
SELECT
  "residents"."year" AS "year",
  SUM("residents"."income") AS "sum_income",
  SUM(CASE WHEN "residents"."sex" = 'M' THEN "residents"."income" END) AS "sum_case_income",
  AVG(
    CASE
      WHEN LOWER("residents"."district") LIKE 'x%'
      THEN "residents"."income"
      ELSE 0
    END
  ) AS "avg_case_income",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1",
  COUNT(CASE WHEN "residents"."sex" = 'M' THEN "residents"."income" END) AS "__units_2",
  COUNT(CASE WHEN LOWER("residents"."district") LIKE 'x%' THEN "residents"."income" END) AS "__units_3"
FROM "residents"
GROUP BY
  "residents"."year"
ORDER BY
  "year";

-- title: conditional sum over a column without nulls still counts its own units
SELECT district, SUM(CASE WHEN household > 4 THEN rooms ELSE 0 END) AS big FROM residents GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  SUM(CASE WHEN "residents"."household" > 4 THEN "residents"."rooms" ELSE 0 END) AS "big",
  COUNT(*) AS "__units",
  COUNT(CASE WHEN "residents"."household" > 4 THEN "residents"."rooms" END) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: min and max of public columns
SELECT sex, MIN(year) AS first_year, MAX(year) AS last_year, MAX(visited_at) AS latest FROM residents GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  MIN("residents"."year") AS "first_year",
  MAX("residents"."year") AS "last_year",
  MAX("residents"."visited_at") AS "latest",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: min and max of public columns with many rows per unit
-- rows_per_unit: many
SELECT MIN(visited_at), MAX(year) FROM residents WHERE district = 'Haidian';
SELECT
  MIN("residents"."visited_at") AS "min_visited_at",
  MAX("residents"."year") AS "max_year",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
WHERE
  "residents"."district" = 'Haidian';

-- title: every aggregate kind with a derived key
-- rows_per_unit: many
SELECT year(visit_date) AS y, COUNT(*), COUNT(DISTINCT resident_id), COUNT(income), SUM(income), AVG(age), STDDEV_SAMP(spend), STDDEV_POP(spend), VAR_SAMP(age), VAR_POP(age), MIN(year), MAX(year) FROM residents GROUP BY y ORDER BY y;
SELECT
  YEAR("residents"."visit_date") AS "y",
  COUNT(*) AS "count",
  COUNT(DISTINCT "residents"."resident_id") AS "count_distinct_resident_id",
  COUNT("residents"."income") AS "count_income",
  SUM("residents"."income") AS "sum_income",
  AVG("residents"."age") AS "avg_age",
  STDDEV_SAMP("residents"."spend") AS "stddev_samp_spend",
  STDDEV_POP("residents"."spend") AS "stddev_pop_spend",
  VARIANCE("residents"."age") AS "var_samp_age",
  VAR_POP("residents"."age") AS "var_pop_age",
  MIN("residents"."year") AS "min_year",
  MAX("residents"."year") AS "max_year",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_3",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_4",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_5",
  COUNT(DISTINCT CASE WHEN NOT "residents"."spend" IS NULL THEN "residents"."__unit" END) AS "__units_6",
  COUNT(DISTINCT CASE WHEN NOT "residents"."spend" IS NULL THEN "residents"."__unit" END) AS "__units_7",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_8",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_9"
FROM "residents"
GROUP BY
  YEAR("residents"."visit_date")
ORDER BY
  "y";

-- title: chinese stddev and count
SELECT 区, STDDEV(收入) AS 标准差, COUNT(收入) AS 有收入 FROM 居民 GROUP BY 区 ORDER BY 区;
SELECT
  "居民"."区" AS "区",
  STDDEV_SAMP("居民"."收入") AS "标准差",
  COUNT("居民"."收入") AS "有收入",
  COUNT(*) AS "__units",
  COUNT("居民"."收入") AS "__units_1",
  COUNT("居民"."收入") AS "__units_2"
FROM "居民"
GROUP BY
  "居民"."区"
ORDER BY
  "区";

-- title: chinese conditional sum with many rows per unit
-- rows_per_unit: many
SELECT 区, SUM(CASE WHEN 区 <> '东城' THEN 收入 ELSE 0 END) AS 收入合计 FROM 居民 GROUP BY 区 ORDER BY 区;
SELECT
  "居民"."区" AS "区",
  SUM(CASE WHEN "居民"."区" <> '东城' THEN "居民"."收入" ELSE 0 END) AS "收入合计",
  COUNT(DISTINCT "居民"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE
      WHEN NOT CASE WHEN "居民"."区" <> '东城' THEN "居民"."收入" END IS NULL
      THEN "居民"."__unit"
    END
  ) AS "__units_1"
FROM "居民"
GROUP BY
  "居民"."区"
ORDER BY
  "区";

-- title: derived key with a filter on the same column
SELECT lower(district) AS d, COUNT(*) AS n FROM residents WHERE district IS NOT NULL AND lower(district) <> 'daxing' GROUP BY d ORDER BY d;
SELECT
  LOWER("residents"."district") AS "d",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  NOT "residents"."district" IS NULL AND LOWER("residents"."district") <> 'daxing'
GROUP BY
  LOWER("residents"."district")
ORDER BY
  "d";

-- title: group by alias and repeated expression of two keys
-- rows_per_unit: many
SELECT month(visit_date) AS m, coalesce(sex, '?') AS s, SUM(spend) AS total FROM residents GROUP BY m, coalesce(sex, '?') ORDER BY m, s;
SELECT
  MONTH("residents"."visit_date") AS "m",
  COALESCE("residents"."sex", '?') AS "s",
  SUM("residents"."spend") AS "total",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "residents"."spend" IS NULL THEN "residents"."__unit" END) AS "__units_2"
FROM "residents"
GROUP BY
  MONTH("residents"."visit_date"),
  COALESCE("residents"."sex", '?')
ORDER BY
  "m",
  "s";

-- title: derived keys ordered by grouped column that is not an output
SELECT year(visit_date) AS y, COUNT(*) AS n FROM residents GROUP BY y, sex ORDER BY y, sex;
SELECT
  YEAR("residents"."visit_date") AS "y",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  YEAR("residents"."visit_date"),
  "residents"."sex"
ORDER BY
  "y",
  "residents"."sex";

-- title: case mapping with a typed date condition
SELECT CASE WHEN visit_date < DATE '2023-07-01' THEN 'h1' WHEN visit_date IS NULL THEN 'none' ELSE 'later' END AS half, COUNT(*) AS n FROM residents GROUP BY half ORDER BY half;
SELECT
  CASE
    WHEN "residents"."visit_date" < CAST('2023-07-01' AS DATE)
    THEN 'h1'
    WHEN "residents"."visit_date" IS NULL
    THEN 'none'
    ELSE 'later'
  END AS "half",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE
    WHEN "residents"."visit_date" < CAST('2023-07-01' AS DATE)
    THEN 'h1'
    WHEN "residents"."visit_date" IS NULL
    THEN 'none'
    ELSE 'later'
  END
ORDER BY
  "half";

-- title: case mapping to numbers and a bucket
SELECT CASE WHEN floor(household / 2) * 2 = 2 THEN 2 ELSE 0 END AS pair, COUNT(*) AS n FROM residents GROUP BY pair ORDER BY pair;
SELECT
  CASE WHEN FLOOR("residents"."household" / 2) * 2 = 2 THEN 2 ELSE 0 END AS "pair",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE WHEN FLOOR("residents"."household" / 2) * 2 = 2 THEN 2 ELSE 0 END
ORDER BY
  "pair";

-- title: hour key from a public timestamp
-- rows_per_unit: many
SELECT hour(visited_at) AS h, COUNT(*) AS n FROM residents GROUP BY h ORDER BY h;
SELECT
  HOUR("residents"."visited_at") AS "h",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
GROUP BY
  HOUR("residents"."visited_at")
ORDER BY
  "h";

-- title: dayofmonth via day function and extract of isodow
SELECT day(visit_date) AS d, COUNT(*) AS n FROM residents WHERE extract(isodow FROM visit_date) < 6 GROUP BY d ORDER BY d;
SELECT
  DAY("residents"."visit_date") AS "d",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  EXTRACT(ISODOW FROM "residents"."visit_date") < 6
GROUP BY
  DAY("residents"."visit_date")
ORDER BY
  "d";

-- title: join count per district of residents with visits
SELECT r.district, COUNT(*) AS visits FROM residents AS r JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "visits",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: inner join keyword and table names as qualifiers
SELECT residents.sex, SUM(visits.cost) AS total FROM residents INNER JOIN visits ON residents.resident_id = visits.resident_id GROUP BY residents.sex ORDER BY residents.sex;
SELECT
  "residents"."sex" AS "sex",
  SUM("visits"."cost") AS "total",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: unqualified unique names resolve to their table
SELECT sex, clinic, AVG(cost) AS mean_cost, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY sex, clinic ORDER BY sex, clinic;
SELECT
  "residents"."sex" AS "sex",
  "visits"."clinic" AS "clinic",
  AVG("visits"."cost") AS "mean_cost",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_2"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."sex",
  "visits"."clinic"
ORDER BY
  "sex",
  "clinic";

-- title: join without group by gives one row
SELECT COUNT(*) AS n, SUM(cost) AS total, AVG(income) AS mean_income FROM residents r JOIN visits v ON r.resident_id = v.resident_id;
SELECT
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "total",
  AVG("residents"."income") AS "mean_income",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1",
  LEAST(
    COUNT(
      DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
    ),
    COUNT(DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_2"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id";

-- title: join with many rows per unit
-- rows_per_unit: many
SELECT r.district, SUM(v.cost) AS total, SUM(r.income) AS income FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.district ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  SUM("visits"."cost") AS "total",
  SUM("residents"."income") AS "income",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1",
  LEAST(
    COUNT(
      DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
    ),
    COUNT(DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_2"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: join counts distinct units of each table
SELECT v.kind, COUNT(DISTINCT r.resident_id) AS people, COUNT(DISTINCT v.resident_id) AS patients FROM residents r JOIN visits v ON v.resident_id = r.resident_id GROUP BY v.kind ORDER BY v.kind;
SELECT
  "visits"."kind" AS "kind",
  COUNT(DISTINCT "residents"."resident_id") AS "people",
  COUNT(DISTINCT "visits"."resident_id") AS "patients",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "visits"."resident_id" = "residents"."resident_id"
GROUP BY
  "visits"."kind"
ORDER BY
  "visits"."kind";

-- title: join with where on both tables
SELECT v.clinic, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE r.sex = 'F' AND v.kind = 'outpatient' AND r.birth_date < DATE '1980-01-01' GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "residents"."sex" = 'F'
  AND "visits"."kind" = 'outpatient'
  AND "residents"."birth_date" < CAST('1980-01-01' AS DATE)
GROUP BY
  "visits"."clinic"
ORDER BY
  "visits"."clinic";

-- title: join grouped by a public column of the second table
SELECT v.kind AS kind, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.kind ORDER BY kind;
SELECT
  "visits"."kind" AS "kind",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "visits"."kind"
ORDER BY
  "kind";

-- title: shared column name qualified in both tables
SELECT r.district AS home, v.district AS clinic_district, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.district, v.district ORDER BY home, clinic_district;
SELECT
  "residents"."district" AS "home",
  "visits"."district" AS "clinic_district",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."district",
  "visits"."district"
ORDER BY
  "home",
  "clinic_district";

-- title: reference table joined on a public column does not count units
SELECT d.population, COUNT(*) AS n FROM visits v JOIN districts d ON v.district = d.district GROUP BY d.population ORDER BY d.population;
SELECT
  "districts"."population" AS "population",
  COUNT(*) AS "n",
  COUNT(DISTINCT "visits"."__unit") AS "__units"
FROM "visits"
JOIN "districts"
  ON "visits"."district" = "districts"."district"
GROUP BY
  "districts"."population"
ORDER BY
  "districts"."population";

-- title: a table used through public columns only still counts its units
SELECT v.kind, d.population, COUNT(*) AS n FROM visits v JOIN districts d ON v.district = d.district GROUP BY v.kind, d.population;
SELECT
  "visits"."kind" AS "kind",
  "districts"."population" AS "population",
  COUNT(*) AS "n",
  COUNT(DISTINCT "visits"."__unit") AS "__units"
FROM "visits"
JOIN "districts"
  ON "visits"."district" = "districts"."district"
GROUP BY
  "visits"."kind",
  "districts"."population";

-- title: reference table grouped by population with residents filter
SELECT d.population AS population, SUM(r.income) AS total FROM residents r JOIN districts d ON r.year = d.census_year WHERE r.district = 'Haidian' GROUP BY d.population;
SELECT
  "districts"."population" AS "population",
  SUM("residents"."income") AS "total",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_1"
FROM "residents"
JOIN "districts"
  ON "residents"."year" = "districts"."census_year"
WHERE
  "residents"."district" = 'Haidian'
GROUP BY
  "districts"."population";

-- title: three tables joined on the join key and a public column
SELECT r.sex, v.kind, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id JOIN districts d ON v.district = d.district GROUP BY r.sex, v.kind ORDER BY r.sex, v.kind;
SELECT
  "residents"."sex" AS "sex",
  "visits"."kind" AS "kind",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
JOIN "districts"
  ON "visits"."district" = "districts"."district"
GROUP BY
  "residents"."sex",
  "visits"."kind"
ORDER BY
  "residents"."sex",
  "visits"."kind";

-- title: three tables with the third joined to the first
-- rows_per_unit: many
SELECT v.clinic, COUNT(*) AS n FROM visits v JOIN residents r ON v.resident_id = r.resident_id JOIN districts d ON d.census_year = r.year GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "visits"."__unit"), COUNT(DISTINCT "residents"."__unit")) AS "__units"
FROM "visits"
JOIN "residents"
  ON "visits"."resident_id" = "residents"."resident_id"
JOIN "districts"
  ON "districts"."census_year" = "residents"."year"
GROUP BY
  "visits"."clinic"
ORDER BY
  "visits"."clinic";

-- title: on with two equalities joined by and
SELECT r.sex, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id AND (v.year = r.year) GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
  AND (
    "visits"."year" = "residents"."year"
  )
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: join with conditional sum over the second table
SELECT r.sex, SUM(CASE WHEN v.kind = 'inpatient' THEN v.cost ELSE 0 END) AS inpatient FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  SUM(CASE WHEN "visits"."kind" = 'inpatient' THEN "visits"."cost" ELSE 0 END) AS "inpatient",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(
      DISTINCT CASE
        WHEN NOT CASE WHEN "visits"."kind" = 'inpatient' THEN "visits"."cost" END IS NULL
        THEN "residents"."__unit"
      END
    ),
    COUNT(
      DISTINCT CASE
        WHEN NOT CASE WHEN "visits"."kind" = 'inpatient' THEN "visits"."cost" END IS NULL
        THEN "visits"."__unit"
      END
    )
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: join with derived keys from both tables
SELECT year(r.visit_date) AS y, lower(v.clinic) AS c, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY y, c ORDER BY y, c;
SELECT
  YEAR("residents"."visit_date") AS "y",
  LOWER("visits"."clinic") AS "c",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  YEAR("residents"."visit_date"),
  LOWER("visits"."clinic")
ORDER BY
  "y",
  "c";

-- title: join with a case mapping of the second table
SELECT CASE WHEN v.clinic IN ('North', 'South') THEN 'ns' ELSE 'other' END AS area, COUNT(*) AS n FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY area ORDER BY area;
SELECT
  CASE WHEN "visits"."clinic" IN ('North', 'South') THEN 'ns' ELSE 'other' END AS "area",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  CASE WHEN "visits"."clinic" IN ('North', 'South') THEN 'ns' ELSE 'other' END
ORDER BY
  "area";

-- title: join with stddev variance and count of values
SELECT r.sex, STDDEV(v.cost) AS sd, VAR_POP(r.age) AS vp, COUNT(v.cost) AS priced FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  STDDEV_SAMP("visits"."cost") AS "sd",
  VAR_POP("residents"."age") AS "vp",
  COUNT("visits"."cost") AS "priced",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_2",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_3"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: join of a column recorded without nulls still counts its units
SELECT r.district, SUM(r.rooms) AS rooms FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.district ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  SUM("residents"."rooms") AS "rooms",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "residents"."rooms" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "residents"."rooms" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: join with min and max of public columns
SELECT v.clinic, MIN(r.year) AS first_year, MAX(r.visited_at) AS last_seen FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  MIN("residents"."year") AS "first_year",
  MAX("residents"."visited_at") AS "last_seen",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "visits"."clinic"
ORDER BY
  "visits"."clinic";

-- title: join with the second table first in from
SELECT r.sex, COUNT(*) AS n FROM visits JOIN residents r ON visits.resident_id = r.resident_id GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "visits"."__unit"), COUNT(DISTINCT "residents"."__unit")) AS "__units"
FROM "visits"
JOIN "residents"
  ON "visits"."resident_id" = "residents"."resident_id"
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: join of the chinese table on its join key
SELECT 居民.区, COUNT(*) AS n FROM 居民 JOIN residents ON 居民.身份证号 = residents.resident_id GROUP BY 居民.区;
SELECT
  "居民"."区" AS "区",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "居民"."__unit"), COUNT(DISTINCT "residents"."__unit")) AS "__units"
FROM "居民"
JOIN "residents"
  ON "居民"."身份证号" = "residents"."resident_id"
GROUP BY
  "居民"."区";

-- title: join with where of the shared column qualified
SELECT COUNT(*) AS n, AVG(v.cost) AS mean FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE v.district IN ('Haidian', 'Daxing') AND r.district IS NOT NULL;
SELECT
  COUNT(*) AS "n",
  AVG("visits"."cost") AS "mean",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "visits"."district" IN ('Haidian', 'Daxing')
  AND NOT "residents"."district" IS NULL;

-- title: join with a filter matching nothing still gives one row
-- rows_per_unit: many
SELECT COUNT(*) AS n, SUM(v.cost) AS total FROM residents r JOIN visits v ON r.resident_id = v.resident_id WHERE r.year = 1900;
SELECT
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "total",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "residents"."year" = 1900;

-- title: join with group by alias of a qualified column
SELECT v.clinic AS c, SUM(r.income) AS income FROM residents r JOIN visits v ON r.resident_id = v.resident_id GROUP BY c ORDER BY c;
SELECT
  "visits"."clinic" AS "c",
  SUM("residents"."income") AS "income",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(
      DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
    ),
    COUNT(DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "visits"."clinic"
ORDER BY
  "c";

-- title: join reference table min max of its public column
SELECT r.sex, MAX(d.population) AS biggest, COUNT(*) AS n FROM residents r JOIN districts d ON d.census_year = r.year WHERE d.population > 0 GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  MAX("districts"."population") AS "biggest",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
JOIN "districts"
  ON "districts"."census_year" = "residents"."year"
WHERE
  "districts"."population" > 0
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: join counting distinct rows of a reference table
SELECT r.sex, COUNT(DISTINCT d.district) AS districts, COUNT(*) AS n FROM residents r JOIN districts d ON r.year = d.census_year GROUP BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(DISTINCT "districts"."district") AS "districts",
  COUNT(*) AS "n",
  COUNT(DISTINCT "residents"."__unit") AS "__units"
FROM "residents"
JOIN "districts"
  ON "residents"."year" = "districts"."census_year"
GROUP BY
  "residents"."sex";

-- title: join on public columns counts the fewer units of the two tables
SELECT r.sex, v.kind, COUNT(*) AS n, SUM(v.cost) AS total FROM residents r JOIN visits v ON r.year = v.year WHERE r.district = 'Haidian' AND v.clinic = 'North' GROUP BY r.sex, v.kind ORDER BY r.sex, v.kind;
SELECT
  "residents"."sex" AS "sex",
  "visits"."kind" AS "kind",
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "total",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_3"
FROM "residents"
JOIN "visits"
  ON "residents"."year" = "visits"."year"
WHERE
  "residents"."district" = 'Haidian' AND "visits"."clinic" = 'North'
GROUP BY
  "residents"."sex",
  "visits"."kind"
ORDER BY
  "residents"."sex",
  "visits"."kind";

-- title: join on public columns with many rows per unit
-- rows_per_unit: many
SELECT v.clinic, AVG(r.income) AS income, SUM(CASE WHEN r.sex = 'F' THEN v.cost END) AS female_cost FROM residents r JOIN visits v ON v.year = r.year WHERE r.household < 3 GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  AVG("residents"."income") AS "income",
  SUM(CASE WHEN "residents"."sex" = 'F' THEN "visits"."cost" END) AS "female_cost",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
  LEAST(
    COUNT(
      DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
    ),
    COUNT(DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "visits"."__unit" END)
  ) AS "__units_1",
  LEAST(
    COUNT(
      DISTINCT CASE
        WHEN NOT CASE WHEN "residents"."sex" = 'F' THEN "visits"."cost" END IS NULL
        THEN "residents"."__unit"
      END
    ),
    COUNT(
      DISTINCT CASE
        WHEN NOT CASE WHEN "residents"."sex" = 'F' THEN "visits"."cost" END IS NULL
        THEN "visits"."__unit"
      END
    )
  ) AS "__units_2"
FROM "residents"
JOIN "visits"
  ON "visits"."year" = "residents"."year"
WHERE
  "residents"."household" < 3
GROUP BY
  "visits"."clinic"
ORDER BY
  "visits"."clinic";

-- title: common table expression
WITH t AS (SELECT district FROM residents) SELECT COUNT(*) FROM t;
SELECT
  COUNT(*) AS "count",
  COUNT(*) AS "__units"
FROM "residents";

-- title: subquery in from
SELECT COUNT(*) FROM (SELECT district FROM residents) AS t;
SELECT
  COUNT(*) AS "count",
  COUNT(*) AS "__units"
FROM "residents";

-- title: cte renaming a group column
WITH t AS (SELECT district AS area FROM residents) SELECT area, COUNT(*) AS n FROM t GROUP BY area ORDER BY area;
SELECT
  "residents"."district" AS "area",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "area";

-- title: derived table renaming a group column
SELECT x.area, COUNT(*) AS n FROM (SELECT district AS area FROM residents) AS x GROUP BY x.area ORDER BY x.area;
SELECT
  "residents"."district" AS "area",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "area";

-- title: cte with filters inside and outside combined
WITH t AS (SELECT district AS d, income AS inc, year FROM residents WHERE sex = 'F') SELECT d, COUNT(*) AS n, SUM(inc) AS total FROM t WHERE year > 1990 OR d = 'Haidian' GROUP BY d ORDER BY d;
SELECT
  "residents"."district" AS "d",
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_2"
FROM "residents"
WHERE
  (
    "residents"."year" > 1990 OR "residents"."district" = 'Haidian'
  )
  AND "residents"."sex" = 'F'
GROUP BY
  "residents"."district"
ORDER BY
  "d";

-- title: derived table with filters inside and outside combined
SELECT s, AVG(a) AS mean_age FROM (SELECT sex AS s, age AS a FROM residents WHERE district <> 'Daxing') AS x WHERE s IS NOT NULL GROUP BY s ORDER BY s;
SELECT
  "residents"."sex" AS "s",
  AVG("residents"."age") AS "mean_age",
  COUNT(*) AS "__units",
  COUNT("residents"."age") AS "__units_1"
FROM "residents"
WHERE
  NOT "residents"."sex" IS NULL AND "residents"."district" <> 'Daxing'
GROUP BY
  "residents"."sex"
ORDER BY
  "s";

-- title: chained ctes
WITH a AS (SELECT district, sex, income FROM residents WHERE year >= 1980), b AS (SELECT district AS area, income AS inc FROM a WHERE sex = 'M') SELECT area, SUM(inc) AS total FROM b GROUP BY area ORDER BY area;
SELECT
  "residents"."district" AS "area",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  "residents"."sex" = 'M' AND "residents"."year" >= 1980
GROUP BY
  "residents"."district"
ORDER BY
  "area";

-- title: nested derived tables
SELECT k, COUNT(*) AS n FROM (SELECT d AS k FROM (SELECT district AS d FROM residents WHERE year > 1990) AS a WHERE d <> 'Xicheng') AS b GROUP BY k ORDER BY k;
SELECT
  "residents"."district" AS "k",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."district" <> 'Xicheng' AND "residents"."year" > 1990
GROUP BY
  "residents"."district"
ORDER BY
  "k";

-- title: cte joined with a granted table
WITH r AS (SELECT resident_id, district AS area FROM residents WHERE sex = 'F') SELECT r.area, v.clinic, COUNT(*) AS n FROM r JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.area, v.clinic ORDER BY r.area, v.clinic;
SELECT
  "residents"."district" AS "area",
  "visits"."clinic" AS "clinic",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "residents"."sex" = 'F'
GROUP BY
  "residents"."district",
  "visits"."clinic"
ORDER BY
  "area",
  "clinic";

-- title: derived table joined with a granted table
SELECT v.clinic, COUNT(*) AS n FROM (SELECT resident_id AS rid FROM residents WHERE year > 1985) AS r JOIN visits AS v ON r.rid = v.resident_id GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "residents"."year" > 1985
GROUP BY
  "visits"."clinic"
ORDER BY
  "clinic";

-- title: cte with a listed transform as group key
WITH t AS (SELECT lower(district) AS d FROM residents) SELECT d, COUNT(*) AS n FROM t GROUP BY d ORDER BY d;
SELECT
  LOWER("residents"."district") AS "d",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  LOWER("residents"."district")
ORDER BY
  "d";

-- title: cte with date_trunc of a group date
WITH t AS (SELECT date_trunc('month', visit_date) AS m, income FROM residents) SELECT m, SUM(income) AS total FROM t GROUP BY m ORDER BY m;
SELECT
  DATE_TRUNC('MONTH', "residents"."visit_date") AS "m",
  SUM("residents"."income") AS "total",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
GROUP BY
  DATE_TRUNC('MONTH', "residents"."visit_date")
ORDER BY
  "m";

-- title: cte with a case mapping
WITH t AS (SELECT CASE WHEN sex = 'F' THEN 'female' ELSE 'other' END AS g FROM residents) SELECT g, COUNT(*) AS n FROM t GROUP BY g ORDER BY g;
SELECT
  CASE WHEN "residents"."sex" = 'F' THEN 'female' ELSE 'other' END AS "g",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  CASE WHEN "residents"."sex" = 'F' THEN 'female' ELSE 'other' END
ORDER BY
  "g";

-- title: cte counting distinct renamed privacy units
WITH t AS (SELECT resident_id AS rid, district FROM residents) SELECT district, COUNT(DISTINCT rid) AS units FROM t GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(DISTINCT "residents"."resident_id") AS "units",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: cte output names kept as written
WITH t AS (SELECT district AS "Area", sex FROM residents) SELECT "Area", sex AS "Sex", COUNT(*) AS "N" FROM t GROUP BY "Area", sex ORDER BY "Area", "Sex";
SELECT
  "residents"."district" AS "Area",
  "residents"."sex" AS "Sex",
  COUNT(*) AS "N",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district",
  "residents"."sex"
ORDER BY
  "Area",
  "Sex";

-- title: cte reading an aliased table
WITH t AS (SELECT r.district AS d, r.spend FROM residents AS r WHERE r.year > 1975) SELECT d, AVG(spend) AS mean_spend FROM t GROUP BY d ORDER BY d;
SELECT
  "residents"."district" AS "d",
  AVG("residents"."spend") AS "mean_spend",
  COUNT(*) AS "__units",
  COUNT("residents"."spend") AS "__units_1"
FROM "residents"
WHERE
  "residents"."year" > 1975
GROUP BY
  "residents"."district"
ORDER BY
  "d";

-- title: derived table with a conditional sum outside
SELECT d, SUM(CASE WHEN s = 'F' THEN inc END) AS female_income FROM (SELECT district AS d, sex AS s, income AS inc FROM residents) AS x GROUP BY d ORDER BY d;
SELECT
  "residents"."district" AS "d",
  SUM(CASE WHEN "residents"."sex" = 'F' THEN "residents"."income" END) AS "female_income",
  COUNT(*) AS "__units",
  COUNT(CASE WHEN "residents"."sex" = 'F' THEN "residents"."income" END) AS "__units_1"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "d";

-- title: cte only filtering then aggregating without group by
WITH t AS (SELECT income, age FROM residents WHERE birth_date >= DATE '1970-01-01') SELECT COUNT(*) AS n, SUM(income) AS total, AVG(age) AS mean_age FROM t;
SELECT
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  AVG("residents"."age") AS "mean_age",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1",
  COUNT("residents"."age") AS "__units_2"
FROM "residents"
WHERE
  "residents"."birth_date" >= CAST('1970-01-01' AS DATE);

-- title: cte and derived table together
WITH t AS (SELECT district AS d, year FROM residents) SELECT y, COUNT(*) AS n FROM (SELECT floor(year / 10) * 10 AS y FROM t WHERE d IN ('Haidian', 'Chaoyang')) AS x GROUP BY y ORDER BY y;
SELECT
  FLOOR("residents"."year" / 10) * 10 AS "y",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."district" IN ('Haidian', 'Chaoyang')
GROUP BY
  FLOOR("residents"."year" / 10) * 10
ORDER BY
  "y";

-- title: cte with coalesce of a group column
WITH t AS (SELECT coalesce(district, 'unknown') AS d FROM residents) SELECT d, COUNT(*) AS n FROM t GROUP BY d ORDER BY d;
SELECT
  COALESCE("residents"."district", 'unknown') AS "d",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  COALESCE("residents"."district", 'unknown')
ORDER BY
  "d";

-- title: cte with min and max of a renamed public column
WITH t AS (SELECT year AS y, district FROM residents) SELECT district, MIN(y) AS first_year, MAX(y) AS last_year FROM t GROUP BY district ORDER BY district;
SELECT
  "residents"."district" AS "district",
  MIN("residents"."year") AS "first_year",
  MAX("residents"."year") AS "last_year",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: cte many rows per unit
-- rows_per_unit: many
WITH t AS (SELECT district AS d, income AS inc FROM residents WHERE sex = 'M') SELECT d, COUNT(*) AS n, SUM(inc) AS total FROM t GROUP BY d ORDER BY d;
SELECT
  "residents"."district" AS "d",
  COUNT(*) AS "n",
  SUM("residents"."income") AS "total",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
  ) AS "__units_2"
FROM "residents"
WHERE
  "residents"."sex" = 'M'
GROUP BY
  "residents"."district"
ORDER BY
  "d";

-- title: cte selecting columns unrenamed with a stddev
WITH t AS (SELECT sex, rooms FROM residents) SELECT sex, STDDEV(rooms) AS sd FROM t GROUP BY sex ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  STDDEV_SAMP("residents"."rooms") AS "sd",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: cte joined with the reference table on a public column
WITH v AS (SELECT district AS area, cost FROM visits WHERE kind = 'inpatient') SELECT d.census_year, SUM(v.cost) AS total FROM v JOIN districts AS d ON v.area = d.district GROUP BY d.census_year ORDER BY d.census_year;
SELECT
  "districts"."census_year" AS "census_year",
  SUM("visits"."cost") AS "total",
  COUNT(DISTINCT "visits"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END) AS "__units_1"
FROM "visits"
JOIN "districts"
  ON "visits"."district" = "districts"."district"
WHERE
  "visits"."kind" = 'inpatient'
GROUP BY
  "districts"."census_year"
ORDER BY
  "census_year";
-- title: join of a subquery
SELECT COUNT(*) FROM residents r JOIN (SELECT resident_id FROM visits) v ON r.resident_id = v.resident_id;
SELECT
  COUNT(*) AS "count",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id";

-- title: having on a group key moves into where
SELECT district, COUNT(*) AS n FROM residents GROUP BY district HAVING district <> 'Daxing' ORDER BY district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
WHERE
  "residents"."district" <> 'Daxing'
GROUP BY
  "residents"."district"
ORDER BY
  "district";

-- title: having on the alias of a derived key
SELECT year(visit_date) AS y, SUM(income) AS s FROM residents GROUP BY y HAVING y >= 2023 ORDER BY y;
SELECT
  YEAR("residents"."visit_date") AS "y",
  SUM("residents"."income") AS "s",
  COUNT(*) AS "__units",
  COUNT("residents"."income") AS "__units_1"
FROM "residents"
WHERE
  YEAR("residents"."visit_date") >= 2023
GROUP BY
  YEAR("residents"."visit_date")
ORDER BY
  "y";

-- title: having together with where over many rows per unit
-- rows_per_unit: many
SELECT sex, AVG(age) AS a FROM residents WHERE district IS NOT NULL GROUP BY sex HAVING sex IN ('F', 'M') ORDER BY sex;
SELECT
  "residents"."sex" AS "sex",
  AVG("residents"."age") AS "a",
  COUNT(DISTINCT "residents"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."__unit" END) AS "__units_1"
FROM "residents"
WHERE
  (
    NOT "residents"."district" IS NULL
  )
  AND (
    "residents"."sex" IN ('F', 'M')
  )
GROUP BY
  "residents"."sex"
ORDER BY
  "sex";

-- title: having on a grouped column of a join
SELECT r.district, COUNT(*) AS n FROM residents AS r JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district HAVING r.district LIKE 'D%' ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
FROM "residents"
JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "residents"."district" LIKE 'D%'
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: outer query renames and orders an aggregating cte
WITH a AS (SELECT district AS d, SUM(income) AS s FROM residents GROUP BY district) SELECT d AS k, s FROM a ORDER BY k;
SELECT
  "__q"."d" AS "k",
  "__q"."s" AS "s",
  "__q"."__units" AS "__units",
  "__q"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "d",
    SUM("residents"."income") AS "s",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__q"
ORDER BY
  "k";

-- title: outer filter on a key is moved into the aggregating cte
WITH a AS (SELECT district AS d, SUM(income) AS s FROM residents GROUP BY district) SELECT * FROM a WHERE d IN ('Haidian', 'Daxing') ORDER BY d;
SELECT
  "__q"."d" AS "d",
  "__q"."s" AS "s",
  "__q"."__units" AS "__units",
  "__q"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "d",
    SUM("residents"."income") AS "s",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  WHERE
    "residents"."district" IN ('Haidian', 'Daxing')
  GROUP BY
    "residents"."district"
) AS "__q"
ORDER BY
  "d";

-- title: outer limit over an aggregating cte
WITH a AS (SELECT sex, COUNT(*) AS n FROM residents GROUP BY sex) SELECT sex, n FROM a ORDER BY sex LIMIT 1;
SELECT
  "__q"."sex" AS "sex",
  "__q"."n" AS "n",
  "__q"."__units" AS "__units"
FROM (
  SELECT
    "residents"."sex" AS "sex",
    COUNT(*) AS "n",
    COUNT(*) AS "__units"
  FROM "residents"
  GROUP BY
    "residents"."sex"
) AS "__q"
ORDER BY
  "sex"
LIMIT 1;

-- title: aggregating cte over a merged filtering cte
WITH r AS (SELECT district AS dd, income AS inc FROM residents WHERE sex = 'F'), a AS (SELECT dd, SUM(inc) AS s FROM r GROUP BY dd) SELECT dd, s FROM a WHERE dd <> 'Daxing' ORDER BY dd;
SELECT
  "__q"."dd" AS "dd",
  "__q"."s" AS "s",
  "__q"."__units" AS "__units",
  "__q"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "dd",
    SUM("residents"."income") AS "s",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  WHERE
    "residents"."district" <> 'Daxing' AND "residents"."sex" = 'F'
  GROUP BY
    "residents"."district"
) AS "__q"
ORDER BY
  "dd";

-- title: nested outer queries over one aggregate
SELECT k FROM (SELECT d AS k, n FROM (SELECT district AS d, COUNT(*) AS n FROM residents GROUP BY district) AS x WHERE d IS NOT NULL) AS y ORDER BY k;
SELECT
  "__q"."k" AS "k",
  "__q"."__units" AS "__units"
FROM (
  SELECT
    "__q"."d" AS "k",
    "__q"."n" AS "n",
    "__q"."__units" AS "__units"
  FROM (
    SELECT
      "residents"."district" AS "d",
      COUNT(*) AS "n",
      COUNT(*) AS "__units"
    FROM "residents"
    WHERE
      NOT "residents"."district" IS NULL
    GROUP BY
      "residents"."district"
  ) AS "__q"
) AS "__q"
ORDER BY
  "k";

-- title: outer query over an aggregating join many rows per unit
-- rows_per_unit: many
WITH a AS (SELECT v.clinic, COUNT(DISTINCT r.resident_id) AS people, SUM(v.cost) AS cost FROM residents AS r JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY v.clinic) SELECT clinic, cost, people FROM a WHERE clinic IS NOT NULL ORDER BY clinic;
SELECT
  "__q"."clinic" AS "clinic",
  "__q"."cost" AS "cost",
  "__q"."people" AS "people",
  "__q"."__units" AS "__units",
  "__q"."__units_2" AS "__units_2"
FROM (
  SELECT
    "visits"."clinic" AS "clinic",
    COUNT(DISTINCT "residents"."resident_id") AS "people",
    SUM("visits"."cost") AS "cost",
    LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units",
    LEAST(
      COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
      COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END)
    ) AS "__units_2"
  FROM "residents"
  JOIN "visits"
    ON "residents"."resident_id" = "visits"."resident_id"
  WHERE
    NOT "visits"."clinic" IS NULL
  GROUP BY
    "visits"."clinic"
) AS "__q"
ORDER BY
  "clinic";

-- title: union all of two aggregate queries
SELECT district AS k, COUNT(*) AS n FROM residents GROUP BY district UNION ALL SELECT sex, COUNT(*) FROM residents GROUP BY sex ORDER BY k;
SELECT
  "__b"."k" AS "k",
  "__b"."n" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    "residents"."district" AS "k",
    COUNT(*) AS "n",
    COUNT(*) AS "__units"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__b"
UNION ALL
SELECT
  "__b"."sex" AS "k",
  "__b"."count" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    "residents"."sex" AS "sex",
    COUNT(*) AS "count",
    COUNT(*) AS "__units"
  FROM "residents"
  GROUP BY
    "residents"."sex"
) AS "__b"
ORDER BY
  "k";

-- title: union all aligns companions by position
SELECT sex AS k, SUM(income) AS s FROM residents GROUP BY sex UNION ALL SELECT district, SUM(rooms) FROM residents GROUP BY district;
SELECT
  "__b"."k" AS "k",
  "__b"."s" AS "s",
  "__b"."__units" AS "__units",
  "__b"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."sex" AS "k",
    SUM("residents"."income") AS "s",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  GROUP BY
    "residents"."sex"
) AS "__b"
UNION ALL
SELECT
  "__b"."district" AS "k",
  "__b"."sum_rooms" AS "s",
  "__b"."__units" AS "__units",
  "__b"."__units" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "district",
    SUM("residents"."rooms") AS "sum_rooms",
    COUNT(*) AS "__units"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__b";

-- title: union all of one-row totals
SELECT COUNT(*) FROM residents UNION ALL SELECT COUNT(*) FROM residents;
SELECT
  "__b"."count" AS "count",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "count",
    COUNT(*) AS "__units"
  FROM "residents"
) AS "__b"
UNION ALL
SELECT
  "__b"."count" AS "count",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "count",
    COUNT(*) AS "__units"
  FROM "residents"
) AS "__b";

-- title: union distinct of totals over two tables
SELECT COUNT(*) AS n FROM residents UNION SELECT COUNT(*) FROM visits;
SELECT
  "__b"."n" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "n",
    COUNT(*) AS "__units"
  FROM "residents"
) AS "__b"
UNION
SELECT
  "__b"."count" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "count",
    COUNT(DISTINCT "visits"."__unit") AS "__units"
  FROM "visits"
) AS "__b";

-- title: union all of three queries one of them joined
-- rows_per_unit: many
SELECT COUNT(*) AS n FROM residents UNION ALL SELECT COUNT(*) FROM residents WHERE sex = 'F' UNION ALL SELECT COUNT(*) FROM residents AS r JOIN visits AS v ON r.resident_id = v.resident_id;
SELECT
  "__b"."n" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    "__b"."n" AS "n",
    "__b"."__units" AS "__units"
  FROM (
    SELECT
      COUNT(*) AS "n",
      COUNT(DISTINCT "residents"."__unit") AS "__units"
    FROM "residents"
  ) AS "__b"
  UNION ALL
  SELECT
    "__b"."count" AS "n",
    "__b"."__units" AS "__units"
  FROM (
    SELECT
      COUNT(*) AS "count",
      COUNT(DISTINCT "residents"."__unit") AS "__units"
    FROM "residents"
    WHERE
      "residents"."sex" = 'F'
  ) AS "__b"
) AS "__b"
UNION ALL
SELECT
  "__b"."count" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "count",
    LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) AS "__units"
  FROM "residents"
  JOIN "visits"
    ON "residents"."resident_id" = "visits"."resident_id"
) AS "__b";

-- title: union inside a cte filtered on a key outside
WITH u AS (SELECT district AS k, COUNT(*) AS n FROM residents GROUP BY district UNION ALL SELECT clinic, COUNT(*) FROM visits GROUP BY clinic) SELECT k, n FROM u WHERE k IS NOT NULL ORDER BY k;
SELECT
  "__q"."k" AS "k",
  "__q"."n" AS "n",
  "__q"."__units" AS "__units"
FROM (
  SELECT
    "__b"."k" AS "k",
    "__b"."n" AS "n",
    "__b"."__units" AS "__units"
  FROM (
    SELECT
      "residents"."district" AS "k",
      COUNT(*) AS "n",
      COUNT(*) AS "__units"
    FROM "residents"
    WHERE
      NOT "residents"."district" IS NULL
    GROUP BY
      "residents"."district"
  ) AS "__b"
  UNION ALL
  SELECT
    "__b"."clinic" AS "k",
    "__b"."count" AS "n",
    "__b"."__units" AS "__units"
  FROM (
    SELECT
      "visits"."clinic" AS "clinic",
      COUNT(*) AS "count",
      COUNT(DISTINCT "visits"."__unit") AS "__units"
    FROM "visits"
    WHERE
      NOT "visits"."clinic" IS NULL
    GROUP BY
      "visits"."clinic"
  ) AS "__b"
) AS "__q"
ORDER BY
  "k";

-- title: union with order and limit
SELECT sex AS k, AVG(age) AS a FROM residents GROUP BY sex UNION ALL SELECT district, AVG(age) FROM residents GROUP BY district ORDER BY k LIMIT 3;
SELECT
  "__b"."k" AS "k",
  "__b"."a" AS "a",
  "__b"."__units" AS "__units",
  "__b"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."sex" AS "k",
    AVG("residents"."age") AS "a",
    COUNT(*) AS "__units",
    COUNT("residents"."age") AS "__units_1"
  FROM "residents"
  GROUP BY
    "residents"."sex"
) AS "__b"
UNION ALL
SELECT
  "__b"."district" AS "k",
  "__b"."avg_age" AS "a",
  "__b"."__units" AS "__units",
  "__b"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "district",
    AVG("residents"."age") AS "avg_age",
    COUNT(*) AS "__units",
    COUNT("residents"."age") AS "__units_1"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__b"
ORDER BY
  "k"
LIMIT 3;

-- title: union branch reads a merged cte
WITH f AS (SELECT district, income FROM residents WHERE sex = 'F') SELECT district, SUM(income) AS s FROM f GROUP BY district UNION ALL SELECT district, SUM(income) FROM residents GROUP BY district;
SELECT
  "__b"."district" AS "district",
  "__b"."s" AS "s",
  "__b"."__units" AS "__units",
  "__b"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "district",
    SUM("residents"."income") AS "s",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  WHERE
    "residents"."sex" = 'F'
  GROUP BY
    "residents"."district"
) AS "__b"
UNION ALL
SELECT
  "__b"."district" AS "district",
  "__b"."sum_income" AS "s",
  "__b"."__units" AS "__units",
  "__b"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "district",
    SUM("residents"."income") AS "sum_income",
    COUNT(*) AS "__units",
    COUNT("residents"."income") AS "__units_1"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__b";

-- title: union of an outer query and a plain aggregate
SELECT k, n FROM (SELECT sex AS k, COUNT(*) AS n FROM residents GROUP BY sex) AS t WHERE k = 'F' UNION ALL SELECT district, COUNT(*) FROM residents GROUP BY district;
SELECT
  "__b"."k" AS "k",
  "__b"."n" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    "__q"."k" AS "k",
    "__q"."n" AS "n",
    "__q"."__units" AS "__units"
  FROM (
    SELECT
      "residents"."sex" AS "k",
      COUNT(*) AS "n",
      COUNT(*) AS "__units"
    FROM "residents"
    WHERE
      "residents"."sex" = 'F'
    GROUP BY
      "residents"."sex"
  ) AS "__q"
) AS "__b"
UNION ALL
SELECT
  "__b"."district" AS "k",
  "__b"."count" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    "residents"."district" AS "district",
    COUNT(*) AS "count",
    COUNT(*) AS "__units"
  FROM "residents"
  GROUP BY
    "residents"."district"
) AS "__b";

-- title: left join of visits keeps residents without visits
-- rows_per_unit: many
SELECT r.district, COUNT(*) AS n, SUM(v.cost) AS cost, COUNT(DISTINCT r.resident_id) AS people FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district ORDER BY r.district;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "cost",
  COUNT(DISTINCT "residents"."resident_id") AS "people",
  LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units",
  LEAST(
    COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
    NULLIF(
      COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END),
      0
    )
  ) AS "__units_2"
FROM "residents"
LEFT JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "residents"."district"
ORDER BY
  "residents"."district";

-- title: left join counts residents without any visit
SELECT r.sex, COUNT(*) AS n FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id WHERE v.clinic IS NULL GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units"
FROM "residents"
LEFT JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
WHERE
  "visits"."clinic" IS NULL
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: left join grouped by a column of the joined table
SELECT v.clinic, COUNT(*) AS n, AVG(r.income) AS income FROM residents AS r LEFT OUTER JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY v.clinic ORDER BY v.clinic;
SELECT
  "visits"."clinic" AS "clinic",
  COUNT(*) AS "n",
  AVG("residents"."income") AS "income",
  LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units",
  LEAST(
    COUNT(
      DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."__unit" END
    ),
    NULLIF(
      COUNT(DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "visits"."__unit" END),
      0
    )
  ) AS "__units_2"
FROM "residents"
LEFT JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
GROUP BY
  "visits"."clinic"
ORDER BY
  "visits"."clinic";

-- title: left join of a reference table does not count
SELECT d.census_year, COUNT(*) AS n, SUM(v.cost) AS cost FROM visits AS v LEFT JOIN districts AS d ON v.district = d.district GROUP BY d.census_year ORDER BY d.census_year;
SELECT
  "districts"."census_year" AS "census_year",
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "cost",
  COUNT(DISTINCT "visits"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END) AS "__units_2"
FROM "visits"
LEFT JOIN "districts"
  ON "visits"."district" = "districts"."district"
GROUP BY
  "districts"."census_year"
ORDER BY
  "districts"."census_year";

-- title: reference table left joined to a protected table
SELECT d.district, COUNT(*) AS n, SUM(v.cost) AS cost FROM districts AS d LEFT JOIN visits AS v ON d.district = v.district GROUP BY d.district ORDER BY d.district;
SELECT
  "districts"."district" AS "district",
  COUNT(*) AS "n",
  SUM("visits"."cost") AS "cost",
  COUNT(DISTINCT "visits"."__unit") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END) AS "__units_2"
FROM "districts"
LEFT JOIN "visits"
  ON "districts"."district" = "visits"."district"
GROUP BY
  "districts"."district"
ORDER BY
  "districts"."district";

-- title: left join then inner join
-- rows_per_unit: many
SELECT r.sex, COUNT(*) AS n FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id JOIN districts AS d ON v.district = d.district GROUP BY r.sex ORDER BY r.sex;
SELECT
  "residents"."sex" AS "sex",
  COUNT(*) AS "n",
  LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units"
FROM "residents"
LEFT JOIN "visits"
  ON "residents"."resident_id" = "visits"."resident_id"
JOIN "districts"
  ON "visits"."district" = "districts"."district"
GROUP BY
  "residents"."sex"
ORDER BY
  "residents"."sex";

-- title: left join inside an aggregating cte
WITH a AS (SELECT r.district, SUM(v.cost) AS cost FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id GROUP BY r.district) SELECT district, cost FROM a WHERE district IS NOT NULL ORDER BY district;
SELECT
  "__q"."district" AS "district",
  "__q"."cost" AS "cost",
  "__q"."__units" AS "__units",
  "__q"."__units_1" AS "__units_1"
FROM (
  SELECT
    "residents"."district" AS "district",
    SUM("visits"."cost") AS "cost",
    LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units",
    LEAST(
      COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "residents"."__unit" END),
      NULLIF(
        COUNT(DISTINCT CASE WHEN NOT "visits"."cost" IS NULL THEN "visits"."__unit" END),
        0
      )
    ) AS "__units_1"
  FROM "residents"
  LEFT JOIN "visits"
    ON "residents"."resident_id" = "visits"."resident_id"
  WHERE
    NOT "residents"."district" IS NULL
  GROUP BY
    "residents"."district"
) AS "__q"
ORDER BY
  "district";

-- title: left join in a union branch
SELECT COUNT(*) AS n FROM residents AS r LEFT JOIN visits AS v ON r.resident_id = v.resident_id UNION ALL SELECT COUNT(*) FROM residents;
SELECT
  "__b"."n" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "n",
    LEAST(COUNT(DISTINCT "residents"."__unit"), NULLIF(COUNT(DISTINCT "visits"."__unit"), 0)) AS "__units"
  FROM "residents"
  LEFT JOIN "visits"
    ON "residents"."resident_id" = "visits"."resident_id"
) AS "__b"
UNION ALL
SELECT
  "__b"."count" AS "n",
  "__b"."__units" AS "__units"
FROM (
  SELECT
    COUNT(*) AS "count",
    COUNT(*) AS "__units"
  FROM "residents"
) AS "__b";

