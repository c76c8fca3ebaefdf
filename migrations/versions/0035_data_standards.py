"""data: data standards (数据标准) — data elements, code lists and their values, with the national seeds — issue 20

Seeds: GB/T 2261.1 sex codes, the GB/T 2260 codes of Chongqing (the municipality, 市辖区 and 县, and the 38 districts
and counties — the same codes and names as the demo city's units, `tests/data/test_standards.py` compares them) and
common data elements. Literal data, so the migration stays what it was when later code changes.

Revision ID: 0035
Revises: 0034
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None

SEX = [("0", "未知的性别", "Unknown"), ("1", "男性", "Male"), ("2", "女性", "Female"),
       ("9", "未说明的性别", "Not stated")]
CHONGQING = [
    ('500101', '万州区', 'Wanzhou District'),
    ('500102', '涪陵区', 'Fuling District'),
    ('500103', '渝中区', 'Yuzhong District'),
    ('500104', '大渡口区', 'Dadukou District'),
    ('500105', '江北区', 'Jiangbei District'),
    ('500106', '沙坪坝区', 'Shapingba District'),
    ('500107', '九龙坡区', 'Jiulongpo District'),
    ('500108', '南岸区', "Nan'an District"),
    ('500109', '北碚区', 'Beibei District'),
    ('500110', '綦江区', 'Qijiang District'),
    ('500111', '大足区', 'Dazu District'),
    ('500112', '渝北区', 'Yubei District'),
    ('500113', '巴南区', 'Banan District'),
    ('500114', '黔江区', 'Qianjiang District'),
    ('500115', '长寿区', 'Changshou District'),
    ('500116', '江津区', 'Jiangjin District'),
    ('500117', '合川区', 'Hechuan District'),
    ('500118', '永川区', 'Yongchuan District'),
    ('500119', '南川区', 'Nanchuan District'),
    ('500120', '璧山区', 'Bishan District'),
    ('500151', '铜梁区', 'Tongliang District'),
    ('500152', '潼南区', 'Tongnan District'),
    ('500153', '荣昌区', 'Rongchang District'),
    ('500154', '开州区', 'Kaizhou District'),
    ('500155', '梁平区', 'Liangping District'),
    ('500156', '武隆区', 'Wulong District'),
    ('500229', '城口县', 'Chengkou County'),
    ('500230', '丰都县', 'Fengdu County'),
    ('500231', '垫江县', 'Dianjiang County'),
    ('500233', '忠县', 'Zhongxian County'),
    ('500235', '云阳县', 'Yunyang County'),
    ('500236', '奉节县', 'Fengjie County'),
    ('500237', '巫山县', 'Wushan County'),
    ('500238', '巫溪县', 'Wuxi County'),
    ('500240', '石柱土家族自治县', 'Shizhu Tujia Autonomous County'),
    ('500241', '秀山土家族苗族自治县', 'Xiushan Tujia and Miao Autonomous County'),
    ('500242', '酉阳土家族苗族自治县', 'Youyang Tujia and Miao Autonomous County'),
    ('500243', '彭水苗族土家族自治县', 'Pengshui Miao and Tujia Autonomous County'),
]
# identifier, name_zh, name_en, definition, data_type, format, code list, unit
ELEMENTS = [
    ("DE00001", "公民身份号码", "Citizen identity number", "按 GB 11643 编制的公民身份号码。", "string", "an18", "", ""),
    ("DE00002", "统一社会信用代码", "Unified social credit code", "按 GB 32100 编制的法人和其他组织统一社会信用代码。",
     "string", "an18", "", ""),
    ("DE00003", "性别代码", "Sex code", "人的性别，按 GB/T 2261.1 代码表。", "string", "n1", "GB/T 2261.1", ""),
    ("DE00004", "行政区划代码", "Administrative division code", "县级及以上行政区划，按 GB/T 2260 代码表。", "string",
     "n6", "GB/T 2260", ""),
    ("DE00005", "出生日期", "Date of birth", "人出生的公历日期。", "date", "YYYY-MM-DD", "", ""),
    ("DE00006", "联系电话", "Telephone number", "联系用的固定电话或移动电话号码。", "string", "ans..20", "", ""),
    ("DE00007", "电子邮箱", "E-mail address", "联系用的电子邮件地址。", "string", "ans..100", "", ""),
    ("DE00008", "经度", "Longitude", "WGS-84 或 CGCS2000 坐标系下的经度，东经为正。", "decimal", "n..10,6", "", "度"),
    ("DE00009", "纬度", "Latitude", "WGS-84 或 CGCS2000 坐标系下的纬度，北纬为正。", "decimal", "n..9,6", "", "度"),
    ("DE00010", "姓名", "Name of person", "人在户籍管理部门正式登记注册的姓氏和名称。", "string", "ans..50", "", ""),
    ("DE00011", "单位名称", "Organisation name", "法人或其他组织登记的全称。", "string", "ans..200", "", ""),
    ("DE00012", "登记日期", "Registration date", "事项登记的公历日期。", "date", "YYYY-MM-DD", "", ""),
    ("DE00013", "金额", "Amount", "以人民币元计的金额。", "decimal", "n..18,2", "", "元"),
    ("DE00014", "邮政编码", "Postal code", "中国邮政编码。", "string", "n6", "", ""),
]


def upgrade() -> None:
    code_list = op.create_table('data_code_list',
    sa.Column('identifier', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('source_standard', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'retired', name='standardstatus', native_enum=False, length=20), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'], name=op.f('fk_data_code_list_owner_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_code_list')),
    sa.UniqueConstraint('identifier', name=op.f('uq_data_code_list_identifier'))
    )
    with op.batch_alter_table('data_code_list', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_code_list_status'), ['status'], unique=False)

    value = op.create_table('data_code_list_value',
    sa.Column('code_list_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label_zh', sa.String(length=200), nullable=False),
    sa.Column('label_en', sa.String(length=200), nullable=False),
    sa.Column('parent_code', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['code_list_id'], ['data_code_list.id'], name=op.f('fk_data_code_list_value_code_list_id_data_code_list'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_code_list_value')),
    sa.UniqueConstraint('code_list_id', 'code', name=op.f('uq_data_code_list_value_code_list_id_code'))
    )
    with op.batch_alter_table('data_code_list_value', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_code_list_value_code_list_id'), ['code_list_id'], unique=False)

    element = op.create_table('data_element',
    sa.Column('identifier', sa.String(length=40), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('data_type', sa.String(length=10), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('code_list_id', sa.Uuid(), nullable=True),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'retired', name='standardstatus', native_enum=False, length=20), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['code_list_id'], ['data_code_list.id'], name=op.f('fk_data_element_code_list_id_data_code_list')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'], name=op.f('fk_data_element_owner_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_element')),
    sa.UniqueConstraint('identifier', name=op.f('uq_data_element_identifier'))
    )
    with op.batch_alter_table('data_element', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_element_code_list_id'), ['code_list_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_element_name_zh'), ['name_zh'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_element_status'), ['status'], unique=False)

    now = datetime.now(UTC)
    sex_id, div_id = uuid.uuid4(), uuid.uuid4()
    op.bulk_insert(code_list, [
        {"id": sex_id, "identifier": "GB/T 2261.1", "name": "人的性别代码", "name_en": "Codes for sex of human",
         "source_standard": "GB/T 2261.1-2003 个人基本信息分类与代码 第1部分：人的性别代码", "description": "",
         "status": "published", "owner_org_id": None, "created_at": now, "updated_at": now},
        {"id": div_id, "identifier": "GB/T 2260", "name": "中华人民共和国行政区划代码（重庆市）",
         "name_en": "Administrative division codes (Chongqing)", "source_standard": "GB/T 2260 中华人民共和国行政区划代码",
         "description": "重庆市及其所辖区县。", "status": "published", "owner_org_id": None, "created_at": now,
         "updated_at": now},
    ])
    rows = [{"id": uuid.uuid4(), "code_list_id": sex_id, "code": c, "label_zh": zh, "label_en": en, "parent_code": "",
             "position": i} for i, (c, zh, en) in enumerate(SEX)]
    divisions = [("500000", "重庆市", "Chongqing Municipality", ""), ("500100", "市辖区", "Districts", "500000"),
                 ("500200", "县", "Counties", "500000")]
    divisions += [(c, zh, en, "500100" if c < "500200" else "500200") for c, zh, en in CHONGQING]
    rows += [{"id": uuid.uuid4(), "code_list_id": div_id, "code": c, "label_zh": zh, "label_en": en,
              "parent_code": parent, "position": i} for i, (c, zh, en, parent) in enumerate(divisions)]
    op.bulk_insert(value, rows)
    lists = {"GB/T 2261.1": sex_id, "GB/T 2260": div_id}
    op.bulk_insert(element, [
        {"id": uuid.uuid4(), "identifier": ident, "name_zh": zh, "name_en": en, "definition": definition,
         "data_type": data_type, "format": fmt, "code_list_id": lists.get(cl), "unit": unit, "version": "1.0",
         "status": "published", "owner_org_id": None, "created_at": now, "updated_at": now}
        for ident, zh, en, definition, data_type, fmt, cl, unit in ELEMENTS])


def downgrade() -> None:
    with op.batch_alter_table('data_element', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_element_status'))
        batch_op.drop_index(batch_op.f('ix_data_element_name_zh'))
        batch_op.drop_index(batch_op.f('ix_data_element_code_list_id'))

    op.drop_table('data_element')
    with op.batch_alter_table('data_code_list_value', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_code_list_value_code_list_id'))

    op.drop_table('data_code_list_value')
    with op.batch_alter_table('data_code_list', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_code_list_status'))

    op.drop_table('data_code_list')
