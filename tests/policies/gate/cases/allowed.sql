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
  COUNT(DISTINCT "residents"."resident_id") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."resident_id" END
  ) AS "__units_3",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."age" IS NULL THEN "residents"."resident_id" END
  ) AS "__units_4"
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
  COUNT(DISTINCT "residents"."resident_id") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."resident_id" END
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
  COUNT(DISTINCT "residents"."resident_id") AS "__units"
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

-- title: order by aggregate alias with limit
SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY n DESC, district LIMIT 3;
SELECT
  "residents"."district" AS "district",
  COUNT(*) AS "n",
  COUNT(*) AS "__units"
FROM "residents"
GROUP BY
  "residents"."district"
ORDER BY
  "n" DESC,
  "district"
LIMIT 3;

-- title: order by grouped column that is not an output
-- rows_per_unit: many
SELECT COUNT(*) AS n, AVG(income) AS mean FROM residents GROUP BY district, sex ORDER BY district DESC NULLS FIRST, sex;
SELECT
  COUNT(*) AS "n",
  AVG("residents"."income") AS "mean",
  COUNT(DISTINCT "residents"."resident_id") AS "__units",
  COUNT(
    DISTINCT CASE WHEN NOT "residents"."income" IS NULL THEN "residents"."resident_id" END
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
  COUNT(DISTINCT "居民"."身份证号") AS "__units",
  COUNT(DISTINCT CASE WHEN NOT "居民"."收入" IS NULL THEN "居民"."身份证号" END) AS "__units_1"
FROM "居民"
WHERE
  "居民"."区" <> '东城'
GROUP BY
  "居民"."区"
ORDER BY
  "区";
