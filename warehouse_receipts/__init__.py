"""The warehouse-receipt (仓单) registry: commodity quality schemas and grading, premium and
discount tables against each instrument's base grade, and the receipt lifecycle (issue,
transfer, lock for sale, pledge, freeze for delivery, cancel) as an append-only event chain
of custody."""
