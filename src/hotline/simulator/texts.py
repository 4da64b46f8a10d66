"""What callers say, by category (data for the simulator; invented, no real calls).

`{c}` is the caller's community. The first template of each category names no catalogue keyword
(it decides which categories a place sends to the simulated units); a later one may (红绿灯 goes
to the traffic police, 河道 to the water authority, 垃圾转运站 to the city's urban management).
Emergencies are listed apart.
"""

CONTENT: dict[str, tuple[str, ...]] = {
    "water_supply": ("{c}从早上开始停水，一直没有通知什么时候恢复。", "{c}自来水水压很低，高层住户用不上水。",
                     "{c}的自来水发黄，水质有问题。"),
    "heating": ("{c}暖气不热，室温只有十五度左右。", "{c}供暖开始后我家暖气一直不热。"),
    "power": ("{c}楼道经常跳闸，晚上没电。", "{c}这几天反复停电，没有提前通知。"),
    "gas": ("{c}燃气表不走字，燃气公司一直没人来看。", "{c}天然气入户改造拖了很久还没完成。"),
    "drainage": ("{c}下水道堵塞，污水返到路面上。", "{c}门口井盖松动，车辆经过响声很大。",
                 "{c}一下雨就内涝，积水很深。"),
    "property_management": ("{c}电梯经常坏，物业维修很慢。", "{c}物业不作为，楼道堆满杂物没人清理。",
                            "{c}物业费涨了但服务没有改善。"),
    "noise": ("{c}楼下广场舞音响太吵，晚上九点以后还在跳。", "{c}附近商户晚上噪音扰民。",
              "{c}周边夜间施工噪声很大，影响休息。"),
    "sanitation": ("{c}垃圾桶满了好几天没人清运。", "{c}小区垃圾分类点气味很大，苍蝇很多。",
                   "{c}旁边的垃圾转运站气味很大。"),
    "roads_traffic": ("{c}门口道路破损，坑洼不平。", "{c}附近人行道地砖松动，老人容易绊倒。",
                      "{c}门口路口红绿灯坏了，过马路很危险。"),
    "public_transport": ("{c}附近公交车班次太少，早高峰等车很久。", "{c}门口公交站牌信息过时。"),
    "parking": ("{c}门口车辆乱停乱放，消防通道被占。", "{c}小区周边停车位紧张，希望规划停车位。"),
    "education": ("{c}附近幼儿园入园难，学位不够。", "{c}孩子入学手续咨询，户籍和学区如何对应。"),
    "housing_certificates": ("{c}房产证办理拖了很久还没拿到。", "{c}不动产登记需要什么材料。"),
    "wages_social_security": ("在{c}附近工地干活，老板拖欠工资三个月。", "{c}居民社保转移接续办理不顺。"),
    "elderly_care": ("{c}独居老人需要助餐服务。", "{c}养老驿站服务时间太短，老人用不上。"),
    "medical_health": ("{c}社区卫生服务站挂号难。", "{c}附近诊所收费不透明。"),
    "environment_pollution": ("{c}旁边餐馆油烟直排，气味很大。", "{c}附近有人焚烧垃圾，烟很大。",
                              "{c}旁边河道里漂着垃圾，水发臭。"),
    "parks_greenery": ("{c}绿地里树木枯死没人补种。", "{c}旁边公园健身器材损坏。"),
    "construction": ("{c}有人私搭乱建，占用公共空间。", "{c}楼顶违建一直没有拆除。"),
    "market_consumer": ("在{c}附近超市买到过期食品。", "{c}附近健身房关门跑路，预付卡退不了钱。"),
    "public_order": ("{c}门口有人摆摊占道经营。", "{c}夜里有人聚集喝酒闹事。"),
    "other": ("{c}路灯不亮，晚上出行不方便。", "{c}楼道里的宣传栏破损。"),
}

# Emergencies (2-hour report back; 30 minutes to first contact), by category.
EMERGENCY: dict[str, str] = {
    "gas": "{c}楼道里闻到燃气泄漏的味道，请马上派人。",
    "power": "{c}门口电线掉落在地上，很危险。",
    "roads_traffic": "{c}门口路面塌陷了一个大坑。",
}

# How a request type opens what the caller says.
OPENING: dict[str, str] = {
    "complaint": "投诉：",
    "help": "求助：",
    "consultation": "咨询：",
    "suggestion": "建议：",
    "report": "举报：",
    "praise": "表扬：",
}

PRAISE = "感谢工作人员上次及时处理{c}的问题，态度很好。"

# What residents raise when staff visit them in person (collected demands, 接诉 → 主动治理).
DEMANDS: dict[str, tuple[str, ...]] = {
    "property_management": ("居民反映{c}的电梯需要加装。", "居民希望{c}成立业委会。"),
    "parking": ("居民希望在{c}周边增设停车位。",),
    "sanitation": ("居民希望{c}增加垃圾分类桶。",),
    "elderly_care": ("居民希望{c}开设老年餐桌。",),
    "roads_traffic": ("居民希望{c}门口的路口加装减速带。",),
    "other": ("居民希望{c}增设便民服务点。", "居民希望在{c}增加健身场地。"),
}

# Syllables of community names (云景台小区, 阳光家园, ...): invented, checked against the gazetteer.
NAME_FIRST = ("阳光", "幸福", "金色", "翠湖", "绿洲", "鑫苑", "晨光", "怡景", "丽园", "嘉和", "祥云", "瑞雪",
              "云景台", "康泽", "润泽", "书香", "枫林", "兰亭", "竹园", "星河")
NAME_LAST = ("小区", "家园", "花园", "嘉园", "社区", "公寓", "新村", "雅苑")
