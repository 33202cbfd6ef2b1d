import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * An item's size as DynamoDB counts it for capacity and storage ("Item sizes and formats" in the
 * DynamoDB developer guide): attribute names plus values; a string is its UTF-8 bytes, a number
 * about one byte per two significant digits plus one, a boolean or null one byte, a list or map
 * three bytes plus one per element plus its contents.
 */
export function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + valueSize(value);
  return size;
}

/** Storage adds 100 bytes of overhead to every item, in the table and in each index. */
export const STORAGE_OVERHEAD_BYTES = 100;

function utf8(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function numberSize(text: string): number {
  const digits = text.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '');
  const significant = digits.replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, significant.length) / 2) + 1;
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.length, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, element) => sum + 1 + valueSize(element), 0);
  if (value.M !== undefined) {
    return (
      3 +
      Object.entries(value.M).reduce((sum, [name, element]) => sum + 1 + utf8(name) + valueSize(element), 0)
    );
  }
  return 0;
}

/** The parts of DescribeTable's answer that decide where an item is stored. */
export interface TableLayout {
  KeySchema?: { AttributeName?: string | undefined }[] | undefined;
  GlobalSecondaryIndexes?: IndexLayout[] | undefined;
  LocalSecondaryIndexes?: IndexLayout[] | undefined;
}

interface IndexLayout {
  KeySchema?: { AttributeName?: string | undefined }[] | undefined;
  Projection?: { ProjectionType?: string | undefined; NonKeyAttributes?: string[] | undefined } | undefined;
}

/**
 * The bytes an item occupies for storage billing: the item plus 100 bytes, and in every index that
 * holds it (it has the index's keys) the index keys, the table keys, the projected attributes and
 * another 100 bytes.
 */
export function storedBytes(item: Record<string, AttributeValue>, table: TableLayout): number {
  const names = (keys: { AttributeName?: string | undefined }[] | undefined) =>
    (keys ?? []).flatMap((key) => (key.AttributeName === undefined ? [] : [key.AttributeName]));
  const tableKeys = names(table.KeySchema);
  let total = itemSize(item) + STORAGE_OVERHEAD_BYTES;
  for (const index of [...(table.GlobalSecondaryIndexes ?? []), ...(table.LocalSecondaryIndexes ?? [])]) {
    const indexKeys = names(index.KeySchema);
    if (!indexKeys.every((name) => item[name] !== undefined)) continue;
    const projection = index.Projection?.ProjectionType ?? 'KEYS_ONLY';
    const kept = new Set(
      projection === 'ALL'
        ? Object.keys(item)
        : [
            ...indexKeys,
            ...tableKeys,
            ...(projection === 'INCLUDE' ? (index.Projection?.NonKeyAttributes ?? []) : []),
          ],
    );
    const entry = Object.fromEntries(Object.entries(item).filter(([name]) => kept.has(name)));
    total += itemSize(entry) + STORAGE_OVERHEAD_BYTES;
  }
  return total;
}
