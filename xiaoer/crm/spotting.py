"""Attributes a shopper states in chat: phones, e-mails, addresses, height and weight, size worn,
birthday, WeChat/QQ and gender cues (docs/customers-spotting.md).

Pure functions over one message's text: no database, no I/O, a few regular expressions, so a
message costs well under a millisecond. The durable listener (crm.hints.spot_committed)
turns what they find into proposals the agent confirms; nothing spotted becomes a profile fact
alone. Precision matters more than recall: a wrong proposal costs the agent a click, a wrong
phone number on a profile costs a delivery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xiaoer.assistant.text import measures, to_half

MAX_SPOTTED_CHARS = 600  # a pasted essay is not a profile; the start of it is enough


@dataclass(frozen=True)
class Spotted:
    kind: str  # AttributeKind value: phone, email, address, height, weight, size, shoe_size, ...
    value: str  # the normalised value the profile would get
    parts: dict = field(default_factory=dict, compare=False)  # structured pieces (address parts, ...)


# --- numbers that look like phones but are not -----------------------------------------------------
# Words that say the digits next to them are an order, a parcel or money, not a phone.
_NOT_PHONE_CUES = re.compile(r"(订单|单号|卡号|会员|运单|快递单|物流单|编号|尾号|货号|款号|金额|价格|元|块|¥|￥|账号|淘宝号|会员号|券)")
_PHONE_CUES = re.compile(r"(电话|手机|号码|联系|打我|call|tel|致电|收件|收货|座机|固话)", re.I)

# A mainland mobile: 1[3-9] and nine more digits, optionally +86 / 86 and spaces or dashes in the
# usual 3-4-4 places; never inside a longer run of digits or letters (order numbers, tracking ids).
_MOBILE = re.compile(r"(?<![\w.])(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?![\w.])", re.A)
# A landline: area code 0xx/0xxx, a dash or space, 7-8 digits (a bare 0xx12345678 is too often
# something else), optionally an extension.
_LANDLINE = re.compile(r"(?<![\w.])(0\d{2,3})[\s-](\d{7,8})(?:-(\d{1,5}))?(?![\w.])", re.A)

_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,10})(?![\w-])", re.A)

_QQ = re.compile(r"(?:qq|扣扣|企鹅)\s*(?:号码|号)?\s*(?:是|为|:|：)?\s*([1-9]\d{4,10})(?!\d|@)", re.I)
_WECHAT = re.compile(r"(?:微信|威信|薇信|vx|v信|wx|weixin|wechat)\s*(?:号码|号)?\s*(?:是|为|:|：|加)?\s*"
                     r"([A-Za-z][-_A-Za-z0-9]{5,19}|1[3-9]\d{9})(?![-_A-Za-z0-9])", re.I)


def _context(text: str, start: int, end: int, width: int = 8) -> str:
    return text[max(0, start - width):start] + " " + text[end:end + 4]


def phones(text: str) -> list[Spotted]:
    out = []
    for m in _MOBILE.finditer(text):
        if _NOT_PHONE_CUES.search(_context(text, m.start(), m.end())) and not _PHONE_CUES.search(
                _context(text, m.start(), m.end())):
            continue
        out.append(Spotted("phone", "".join(m.groups()), {"type": "mobile"}))
    for m in _LANDLINE.finditer(text):
        if _NOT_PHONE_CUES.search(_context(text, m.start(), m.end())):
            continue
        value = f"{m.group(1)}-{m.group(2)}" + (f"-{m.group(3)}" if m.group(3) else "")
        out.append(Spotted("phone", value, {"type": "landline", "area": m.group(1)}))
    return out


def mask_phones(text: str, mask) -> str:
    """TEXT with every phone-looking number replaced by MASK(number)."""
    text = _MOBILE.sub(lambda m: mask("".join(m.groups())), text)
    return _LANDLINE.sub(lambda m: mask(m.group(0)), text)


def emails(text: str) -> list[Spotted]:
    return [Spotted("email", m.group(1).lower().rstrip("."), {}) for m in _EMAIL.finditer(text)]


def chat_ids(text: str) -> list[Spotted]:
    out = [Spotted("qq", m.group(1), {}) for m in _QQ.finditer(text)
           if not text[m.end(1):m.end(1) + 1] == "@"]
    out += [Spotted("wechat", m.group(1), {}) for m in _WECHAT.finditer(text)]
    return out


# --- addresses -------------------------------------------------------------------------------------
_PROVINCES = ("北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|"
              "海南|四川|贵州|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门")
_HAN = r"[\u4e00-\u9fff]"
_ADDRESS = re.compile(
    rf"(?=\S)(?P<province>(?:{_PROVINCES})(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?)?\s*"
    rf"(?P<city>{_HAN}{{1,7}}?(?:市|自治州|地区|盟))?\s*"
    rf"(?P<district>{_HAN}{{1,6}}?(?:区|县|旗|市))\s*"
    r"(?P<detail>[^\s,，。!！?？;；~～]{2,60})")
_DETAIL_WORDS = re.compile(r"(路|街|道|巷|弄|号|村|镇|乡|小区|栋|幢|楼|室|单元|大厦|花园|苑|公寓|广场|园区|里|组)")
# "区" and "县" inside words that are not districts
_NOT_DISTRICT = re.compile(r"(地区|小区|园区|社区|景区|校区|厂区|专区|区别|县城)$")


def addresses(text: str) -> list[Spotted]:
    out = []
    for m in _ADDRESS.finditer(text):
        province, city, district, detail = (m.group(g) or "" for g in ("province", "city", "district", "detail"))
        if not (province or city) or _NOT_DISTRICT.search(district) or not _DETAIL_WORDS.search(detail):
            continue
        if not re.search(r"\d|[一二三四五六七八九十]+(?:号|栋|楼|室|单元)", detail):
            continue  # an address to deliver to has a number somewhere in it
        detail = _MOBILE.sub("", detail).strip()
        full = f"{province}{city}{district}{detail}"
        out.append(Spotted("address", full[:300], {"province": province, "city": city, "district": district,
                                                    "detail": detail}))
    return out


# --- body: height and weight (the robot's unit parsing), size worn ---------------------------------
_BODY_CUES = re.compile(r"(身高|体重|高|重|斤|kg|公斤|千克|cm|厘米|公分|米|胖|瘦|穿|码|尺码|腰围|身材)", re.I)
_NOT_BODY_CUES = re.compile(r"(单号|订单|快递|物流|价格|多少钱|元|块|包装|箱|尺寸是|长宽|这个|那个|这款|模特)")
_UNIT_OR_LABEL = re.compile(r"身高|体重|斤|公斤|千克|kg|cm|厘米|公分|米", re.I)
# Someone else's measures and sizes (buying for a partner, a child, a friend) are not the shopper's.
_OTHER_PERSON = re.compile(r"(老婆|老公|媳妇|男朋友|女朋友|男票|女票|对象|孩子|宝宝|小孩|儿子|女儿|闺女|妈妈|我妈|爸爸|我爸|"
                           r"婆婆|朋友|同事|闺蜜|他|她|模特|家人|我们家)")
_SELF = re.compile(r"我|本人|俺|^(?:女|男)生?(?=[\s,，\d])")
_SHOE = re.compile(r"鞋|脚")


_DATE_WORDS = re.compile(r"\d{1,4}\s*(?:年|月|日|号|弄|栋|楼|室|单元|路|街|期)")


def _without_long_numbers(text: str) -> str:
    """TEXT with phones, addresses, dates and long numbers (orders, parcels) blanked: their digits
    are no height or weight."""
    text = _LANDLINE.sub(" ", _MOBILE.sub(" ", text))
    text = _DATE_WORDS.sub(" ", _ADDRESS.sub(" ", text))
    return re.sub(r"\d{5,}|(?<![a-z])[a-z]+\d{3,}", " ", text, flags=re.I)


def body(text: str) -> list[Spotted]:
    text = _without_long_numbers(text)
    if not _BODY_CUES.search(text) and not _SELF.search(text):
        return []
    labelled = bool(_UNIT_OR_LABEL.search(text))
    if _OTHER_PERSON.search(text) or (_SHOE.search(text) and not labelled):
        return []
    if _NOT_BODY_CUES.search(text) and not labelled:
        return []
    found = measures(text)
    if not labelled and found and not _SELF.search(text) and len(re.findall(r"(?<![\d.])\d{2,3}(?![\d.])", text)) < 2:
        return []  # one bare number with no unit and nobody speaking of themselves: a product, a price
    out = []
    if found.height_cm is not None:
        out.append(Spotted("height", f"{found.height_cm:g}", {"unit": "cm"}))
    elif _SELF.search(text) and not _SHOE.search(text):
        # "我是女生 155": one bare number a person could be tall, said of oneself
        bare = re.findall(r"(?<![\d.])(1[4-9]\d)(?![\d.]|\s*(?:码|号|元|块|斤|kg|公斤))", text)
        if len(bare) == 1 and found.weight_kg is None:
            out.append(Spotted("height", bare[0], {"unit": "cm"}))
    if found.weight_kg is not None:
        out.append(Spotted("weight", f"{found.weight_kg:g}", {"unit": "kg"}))
    return out


_LETTER_SIZE = r"(xxxl|xxl|xl|xs|s|m|l|[2-5]xl)"
_SIZE_WORN = re.compile(rf"(?:平时|一般|平常|日常|我|都|一直|习惯)\s*(?:穿|买|拿|是)?\s*(?:的)?\s*(?:尺码)?\s*{_LETTER_SIZE}(?:码|号)?(?![a-z])"
                        rf"|(?:穿|尺码是?|码数是?)\s*{_LETTER_SIZE}(?:码|号)?(?![a-z])", re.I)
_SHOE_SIZE = re.compile(r"(?:鞋码|鞋子?(?:穿|是)?|穿|脚(?:是|穿)?)\s*(?:的)?\s*(3[4-9]|4[0-6])(?:\.5)?\s*(?:码|号|的)?"
                        r"|(3[4-9]|4[0-6])(?:\.5)?\s*(?:码|号)的?(?:鞋|脚)")
_NUMBER_SIZE = re.compile(r"(?:平时|一般|平常|我)\s*(?:穿|是)?\s*(2[4-9]|3[0-4]|1[5-9]\d)\s*(?:码|号)")


def sizes(text: str) -> list[Spotted]:
    if _OTHER_PERSON.search(text):
        return []
    low = text.lower()
    out = []
    shoe = "鞋" in text or "脚" in text
    if shoe:
        m = _SHOE_SIZE.search(low)
        if m:
            out.append(Spotted("shoe_size", m.group(1) or m.group(2), {}))
            return out
    m = _SIZE_WORN.search(low)
    if m:
        out.append(Spotted("size", (m.group(1) or m.group(2)).upper(), {}))
    elif not shoe and (m := _NUMBER_SIZE.search(low)):
        out.append(Spotted("size", m.group(1), {}))
    return out


# --- birthday --------------------------------------------------------------------------------------
_CN_MONTH = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
             "十一": 11, "十二": 12, "正": 1, "腊": 12, "冬": 11}


def _cn_day(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    text = text.replace("初", "")
    digits = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
    if text in digits:
        return digits[text]
    if text.startswith("二十") or text.startswith("廿"):
        rest = text[2:] if text.startswith("二十") else text[1:]
        return 20 + digits.get(rest, 0)
    if text.startswith("三十"):
        return 30 + digits.get(text[2:], 0)
    if text.startswith("十"):
        return 10 + digits.get(text[1:], 0)
    return None


_BIRTH_CUE = r"(?:生日|出生|生的|生辰|过生)"
_DATE = (r"(?:(?P<year>19[4-9]\d|20[0-2]\d)\s*(?:年|[-./])\s*)?"
         r"(?P<month>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九正腊冬])\s*(?:月|[-./])\s*"
         r"(?P<day>3[01]|[12]\d|0?[1-9]|初[一二三四五六七八九十]|[二三]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?|[一二三四五六七八九])\s*(?:日|号)?")
_BIRTHDAY = re.compile(rf"{_BIRTH_CUE}\s*(?:是|在|为|:|：)?\s*(?P<lunar>农历|阴历|公历|阳历|新历)?\s*{_DATE}"
                       rf"|(?P<lunar2>农历|阴历)?\s*{_DATE.replace('?P<', '?P<b_')}\s*(?:是我的?|那天)?\s*{_BIRTH_CUE}")


def birthdays(text: str) -> list[Spotted]:
    m = _BIRTHDAY.search(text)
    if not m:
        return []
    g = m.groupdict()
    year, month, day = (g.get(k) or g.get("b_" + k) for k in ("year", "month", "day"))
    month_n = int(month) if month.isdigit() else _CN_MONTH.get(month)
    day_n = _cn_day(day)
    if not month_n or not day_n or not 1 <= month_n <= 12 or not 1 <= day_n <= 31:
        return []
    lunar = (g.get("lunar") or g.get("lunar2") or "") in {"农历", "阴历"} or "农历" in text or "阴历" in text
    value = (f"{year}-" if year else "") + f"{month_n:02d}-{day_n:02d}" + (" 农历" if lunar else "")
    return [Spotted("birthday", value, {"year": int(year) if year else None, "month": month_n, "day": day_n,
                                        "lunar": lunar})]


# --- gender cues: only the shopper speaking of themselves ------------------------------------------
_FEMALE = re.compile(r"^女生?(?=[\s,，]*\d)|(我|本人|俺)(是|一个|就是)?\s*(女生|女的|女孩|女孩子|姑娘|妹子|女士|宝妈|孕妇|妈妈)|本人女|我女(?=[,，。 ]|$)"
                     r"|我(怀孕|在孕期|哺乳期)|女生?\s*(\d{2,3}\s*(?:cm|斤|kg)|1米\d)")
_MALE = re.compile(r"^男生?(?=[\s,，]*\d)|(我|本人|俺)(是|一个|就是)?\s*(男生|男的|男孩|男孩子|大老爷们|男士|大男人|爷们)|本人男|我男(?=[,，。 ]|$)"
                   r"|男生?\s*(\d{2,3}\s*(?:cm|斤|kg)|1米\d)")


def genders(text: str) -> list[Spotted]:
    female, male = _FEMALE.search(text), _MALE.search(text)
    if female and not male:
        return [Spotted("gender", "female", {})]
    if male and not female:
        return [Spotted("gender", "male", {})]
    return []


SPOTTERS = (phones, emails, chat_ids, addresses, body, sizes, birthdays, genders)


def spot(text: str) -> list[Spotted]:
    """Every attribute TEXT states, once per (kind, value), in spotter order."""
    text = to_half(text or "")[:MAX_SPOTTED_CHARS]
    if not text.strip():
        return []
    seen: set[tuple[str, str]] = set()
    out = []
    for spotter in SPOTTERS:
        for item in spotter(text):
            if (item.kind, item.value) not in seen:
                seen.add((item.kind, item.value))
                out.append(item)
    return out
